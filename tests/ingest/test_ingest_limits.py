"""A department file is judged by its bounds and its header row before its rows are read.

A 300 KB workbook once took a worker to 6.5 GB and a 56 MB file with one wrong column was read
for 389 s before it was refused: these tests measure memory and count parsed rows, never time.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from ingest_fixtures import FIRM_A
from sqlalchemy import Engine
from xlsx_bomb import write_xlsx

import kejin
from kejin.config import get_settings
from kejin.errors import ValidationError
from kejin.ingest import read
from kejin.ingest.service import import_file

#: The package under test (this worktree's, or another checkout's), for the subprocess.
_SRC = Path(kejin.__file__).resolve().parents[1]

#: The reader's own allocations while refusing a bomb stay below this (the bomb needs ~60 MB).
_PEAK_BOUND = 32 * 1024 * 1024

_MEASURE = """
import json, sys, tracemalloc
from pathlib import Path
from kejin.errors import ValidationError
from kejin.ingest.read import read_file
tracemalloc.start()
try:
    read_file(Path(sys.argv[1]))
    problems = []
except ValidationError as e:
    problems = [p.to_dict() for p in e.problems]
print(json.dumps({"peak": tracemalloc.get_traced_memory()[1], "problems": problems}))
"""


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set ``KEJIN_INGEST_*`` for one test; the settings are re-read before and after."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


def _set(mp: pytest.MonkeyPatch, **env: object) -> None:
    for k, v in env.items():
        mp.setenv(f"KEJIN_INGEST_{k.upper()}", str(v))
    get_settings.cache_clear()


def test_a_zip_bomb_is_refused_from_its_directory_with_bounded_memory(tmp_path: Path) -> None:
    """~200 KB on disk, ~46 MB of sheet XML: refused before openpyxl sees it."""
    header = ["uscc", "name", *[f"c{i}" for i in range(8)]]
    bomb = write_xlsx(tmp_path / "bomb.xlsx", header, ["abcdefgh"] * 10, 100_000)
    assert bomb.stat().st_size < 400_000
    run = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(bomb)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(_SRC), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    out = json.loads(run.stdout)
    assert out["peak"] < _PEAK_BOUND, f"peak {out['peak'] / 2**20:.0f} MB"
    [problem] = out["problems"]
    assert problem["file"] == "bomb.xlsx" and problem["field"] == "xl/worksheets/sheet1.xml"
    assert "KEJIN_INGEST_MAX_ZIP_RATIO" in problem["reason_zh"]
    assert "KEJIN_INGEST_MAX_ZIP_RATIO" in problem["reason_en"]


def test_an_xlsx_unpacking_past_the_total_limit_is_refused(
    tmp_path: Path, limits: pytest.MonkeyPatch
) -> None:
    path = write_xlsx(tmp_path / "big.xlsx", ["uscc"], [FIRM_A], 1000)
    _set(limits, max_unzipped_bytes=10_000)
    with pytest.raises(ValidationError) as e:
        read.read_file(path)
    [p] = e.value.problems
    assert "KEJIN_INGEST_MAX_UNZIPPED_BYTES" in p.reason_zh + p.reason_en


def test_a_malformed_zip_is_refused_before_openpyxl(tmp_path: Path) -> None:
    path = tmp_path / "cut.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 200)
    with pytest.raises(ValidationError) as e:
        read.read_file(path)
    assert "zip" in e.value.problems[0].reason_en


class _Counter:
    """Counts the data cells an Excel read turns into text (header cells included)."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.n = 0
        real = read._cell_text

        def counted(v: object) -> str | None:
            self.n += 1
            return real(v)

        mp.setattr(read, "_cell_text", counted)


def _bad_header_files(tmp_path: Path) -> dict[str, Path]:
    rows = 20_000
    header = ["uscc", "year", "no_such_column"]
    body = [FIRM_A, "2024", "{n}"]
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(",".join(header) + "\n" + (",".join(body) + "\n") * rows)
    pq_path = tmp_path / "bad.parquet"
    pl.DataFrame({h: [v] * rows for h, v in zip(header, body, strict=True)}).write_parquet(pq_path)
    return {
        "csv": csv_path,
        "xlsx": write_xlsx(tmp_path / "bad.xlsx", header, body, rows),
        "parquet": pq_path,
    }


def test_an_unknown_header_is_refused_before_any_row_is_read(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells = _Counter(monkeypatch)
    readers: list[str] = []

    def never(name: str):  # type: ignore[no-untyped-def]
        def reader(*_a: object, **_k: object) -> None:
            readers.append(name)
            raise AssertionError(f"{name} read the rows of a file with a wrong header")

        return reader

    monkeypatch.setattr(read.pl, "read_csv", never("read_csv"))
    monkeypatch.setattr(read.pl, "read_parquet", never("read_parquet"))
    monkeypatch.setattr(read, "_csv_fallback", never("csv_fallback"))
    for fmt, path in _bad_header_files(tmp_path).items():
        with pytest.raises(ValidationError) as e:
            import_file(engine, "indicators", path)
        assert [(p.row, p.field) for p in e.value.problems] == [(1, "no_such_column")], fmt
        assert "no data row was read" in e.value.reason_en
    assert readers == []
    assert cells.n == 3  # the xlsx header row, and no data cell


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "parquet"])
def test_rows_past_the_cap_are_refused_naming_the_limit(
    fmt: str, tmp_path: Path, limits: pytest.MonkeyPatch
) -> None:
    header, body, rows = ["uscc", "year"], [FIRM_A, "2024"], 5_000
    path = tmp_path / f"long.{fmt}"
    if fmt == "csv":
        path.write_text("uscc,year\n" + f"{FIRM_A},2024\n" * rows)
    elif fmt == "xlsx":
        write_xlsx(path, header, body, rows)
    else:
        pl.DataFrame({"uscc": [FIRM_A] * rows, "year": [2024] * rows}).write_parquet(path)
    cells = _Counter(limits)
    limits.setattr(read.pl, "read_parquet", lambda *a, **k: pytest.fail("read past the footer"))
    _set(limits, max_rows=100)
    with pytest.raises(ValidationError) as e:
        read.read_file(path)
    [p] = e.value.problems
    assert (p.file, p.row, p.value) == (path.name, 102, 100)
    assert "KEJIN_INGEST_MAX_ROWS" in p.reason_zh and "KEJIN_INGEST_MAX_ROWS" in p.reason_en
    assert cells.n <= 2 * 101  # Excel stopped at the first row past the cap


def test_a_file_over_the_size_limit_is_refused_unread(
    tmp_path: Path, limits: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.csv"
    path.write_text("uscc\n" + f"{FIRM_A}\n" * 1000)
    _set(limits, max_bytes=1000)
    limits.setattr(Path, "read_bytes", lambda _p: pytest.fail("read an over-large file"))
    with pytest.raises(ValidationError) as e:
        read.read_file(path)
    assert "KEJIN_INGEST_MAX_BYTES" in e.value.problems[0].reason_en


def _upload_app(mp: pytest.MonkeyPatch, max_bytes: int):  # type: ignore[no-untyped-def]
    """The import router alone, with the API's error handler and a handler that must not run."""
    from fastapi import FastAPI

    from kejin.api import kejin_error
    from kejin.errors import KejinError
    from kejin.ingest import routes, upload

    _set(mp, max_bytes=max_bytes)
    mp.setattr(upload, "run_upload", lambda *a, **k: pytest.fail("handler reached"))
    app = FastAPI()
    app.add_exception_handler(KejinError, kejin_error)
    app.include_router(routes.router)
    return app


def test_an_upload_body_over_the_limit_is_refused_as_it_arrives(
    limits: pytest.MonkeyPatch,
) -> None:
    """Streamed without a length, the body is cut off at the limit, not spooled to its end."""
    import asyncio

    app = _upload_app(limits, 100_000)
    boundary = "b0undary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nenterprises\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="e.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    chunks = [head, *[b"x" * 65536] * 100, f"\r\n--{boundary}--\r\n".encode()]
    sent = 0

    async def receive() -> dict[str, object]:
        nonlocal sent
        sent += 1
        return {"type": "http.request", "body": chunks[sent - 1], "more_body": sent < len(chunks)}

    replies: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        replies.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/imports",
        "raw_path": b"/api/imports",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
    }
    asyncio.run(app(scope, receive, send))
    assert replies[0]["status"] == 422
    body = json.loads(b"".join(m.get("body", b"") for m in replies[1:]))  # type: ignore[misc]
    assert "KEJIN_INGEST_MAX_BYTES" in body["reason_zh"] and body["problems"][0]["field"] == "file"
    assert sent <= 4  # the head and two 64 KB chunks pass 100 KB: refused there, 98 chunks unread


def test_an_upload_declaring_an_over_large_length_is_refused_before_reading(
    limits: pytest.MonkeyPatch,
) -> None:
    from fastapi.testclient import TestClient

    app = _upload_app(limits, 1000)
    files = {"file": ("e.csv", io.BytesIO(b"x" * 200_000), "text/csv")}
    r = TestClient(app).post("/api/imports", data={"kind": "enterprises"}, files=files)
    assert r.status_code == 422
    body = r.json()
    assert "KEJIN_INGEST_MAX_BYTES" in body["reason_en"] and body["problems"][0]["field"] == "file"
