"""Every export keeps text as text, and every export goes through the one door that does so."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from kejin import exports

SRC = Path(exports.__file__).resolve().parent
#: Text a spreadsheet may run as a formula: each leading character, ASCII and fullwidth.
RISKY = [
    '=HYPERLINK("http://x.example","点我")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    '＝HYPERLINK("http://x.example")',
    "＋1",
    "－1",
    "＠SUM(A1)",
    "  =1+1",
]


def _roundtrip(rows: list[list[object]]) -> list[list[object]]:
    book = exports.Book()
    sheet = book.sheet("t")
    sheet.rows(rows)
    ws = load_workbook(io.BytesIO(book.to_bytes())).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert all(c.quotePrefix for c in cells if isinstance(c.value, str) and exports.risky(c.value))
    return [[c.value for c in row] for row in ws.iter_rows()]


def test_formula_looking_text_is_written_as_quoted_text() -> None:
    # XML stores a carriage return as a line feed, so "\r" is left to the CSV test.
    row = [*[t for t in RISKY if "\r" not in t], None, "连云港科技有限公司", 12.5, -3]
    assert _roundtrip([row]) == [row]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(
            st.characters(exclude_categories=("C", "Z"), include_characters=" "),
            min_size=1,
            max_size=20,
        ).flatmap(lambda x: st.sampled_from([x, "=" + x, "=SUM(A1:A9)" + x, "@" + x, "＝" + x])),
        min_size=1,
    )
)
def test_any_text_reads_back_unchanged(texts: list[str]) -> None:
    assert _roundtrip([texts]) == [texts]


def test_rows_append_in_order_each_with_its_text_kept() -> None:
    """Each row is checked as it is appended, not by re-reading the sheet (which was O(n²))."""
    rows = [[i, f"=A{i}" if i % 3 == 0 else f"firm {i}", i * 0.5] for i in range(1, 301)]
    assert _roundtrip(rows) == rows


def test_csv_text_fields_are_prefixed_numbers_untouched() -> None:
    frame = pl.DataFrame({"name": [*RISKY, "连云港", "a=b"], "n": list(range(-1, len(RISKY) + 1))})
    back = pl.read_csv(exports.csv_bytes(frame), infer_schema=False)
    assert back["name"].to_list() == ["'" + t for t in RISKY] + ["连云港", "a=b"]
    assert back["n"].to_list() == [str(i) for i in range(-1, len(RISKY) + 1)]


def test_same_rows_same_bytes() -> None:
    def build() -> bytes:
        book = exports.Book()
        book.sheet("s").row(["a", 1])
        return book.to_bytes()

    assert build() == build()


# ── the door stays the only one ──────────────────────────────────────────────────────────
#: ``write_csv`` whose text is hashed or copied into the database, never a file a person opens:
#: (module, enclosing function) → why it may stay.
NOT_EXPORTS = {
    ("frames.py", "write_frame"): "COPY into PostgreSQL",
    ("credit/dataset.py", "frame_sha256"): "checksum of a training set",
    ("points/service.py", "canonical_csv"): "checksum of a score run",
    ("whitelist/service.py", "canonical_csv"): "checksum of a version's entries",
}
_WRITER_CALLS = {"write_csv", "write_excel", "to_csv", "to_excel", "writer", "DictWriter"}


def _enclosing(funcs: list[ast.FunctionDef | ast.AsyncFunctionDef], node: ast.AST) -> str:
    """The innermost function around ``node`` ('' at module level)."""
    line = getattr(node, "lineno", 0)
    inner = [f for f in funcs if f.lineno <= line <= (f.end_lineno or 0)]
    return min(inner, key=lambda f: (f.end_lineno or 0) - f.lineno).name if inner else ""


def _direct_writers() -> list[str]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "exports.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        funcs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]

        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("openpyxl"):
                names = {a.name for a in node.names}
                if node.module != "openpyxl" or names - {"load_workbook"}:
                    found.append(f"{rel}:{node.lineno} imports {node.module} {sorted(names)}")
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("openpyxl") for a in node.names
            ):
                found.append(f"{rel}:{node.lineno} imports openpyxl")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in _WRITER_CALLS
                and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "exports")
                and (rel, _enclosing(funcs, node)) not in NOT_EXPORTS
            ):
                found.append(
                    f"{rel}:{node.lineno} calls .{node.func.attr}() in {_enclosing(funcs, node)}"
                )
    return found


def test_no_export_bypasses_the_door() -> None:
    """Workbooks and CSV are written only by :mod:`kejin.exports` (readers may load_workbook)."""
    assert _direct_writers() == []


def test_the_allowed_non_exports_still_exist() -> None:
    """An entry whose function was renamed or removed must not linger as a silent hole."""
    for (rel, func), why in NOT_EXPORTS.items():
        tree = ast.parse((SRC / rel).read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert func in names, (rel, func, why)


def test_a_streamed_workbook_guards_text_the_same_way() -> None:
    """Write-only (streamed) sheets go through the same guard and hand the file on in pieces."""
    book = exports.Book(streaming=True)
    sheet = book.sheet("s")
    sheet.widths([20, 20])
    rows = [[t, i] for i, t in enumerate(t for t in RISKY if "\r" not in t)] * 300
    sheet.rows(rows)
    body = b"".join(exports.chunks(book.spooled(), size=4096))
    ws = load_workbook(io.BytesIO(body)).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert all(c.data_type != "f" for c in cells)
    assert all(c.quotePrefix for c in cells if isinstance(c.value, str))
    assert [[c.value for c in row] for row in ws.iter_rows()] == rows
