"""Texts for users cite documents by their own titles and numbers, never the project's internal
notes — no "issue #4", "种子004", "seed 003" or "DESIGN.md" (issue 16).

Every user-visible text source is read: the page catalogs, the templates, every string the
shipped YAML and TOML libraries hold (policies, parameters, points systems, whitelist rules,
fund schemes, decision tables, statistics definitions — parsed, so comments are free), and every
string constant of the Python package that is not a developer's docstring (CLI output and
help, API descriptions, error messages, document fields of the policy library).
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import yaml

from kejin.web import catalogs, messages

SRC = Path(__file__).resolve().parents[1] / "src" / "kejin"

INTERNAL = re.compile(
    r"""
      \bissues?\s*[\#-]?\s*\d+                  # issue 4, issue #5, issue-5
    | \bissues?\s*\#                           # issue #
    | \bkejin\s+issues?\b                      # as summarised in kejin issue
    | \bseeds?\s*\#?\s*0\d\d                    # seed 003
    | \bthe\s+seeds?\b(?!\s+(stage|round|fund|capital|investment|period))
    | \bseeds?/                                 # a path into the seeds
    | (?<!随机)种子(?!期|投资|轮|基金|资金)       # 种子004, 种子未给出 (not 种子期, 随机种子)
    | DESIGN\.md | GLOSSARY\.md
    | \b(file|文件)\s*00\d
    | ^00[0-4]$                                 # a seed's file number as a document's name
    """,
    re.I | re.X,
)


#: Decorators whose function's docstring a user reads: Typer commands, FastAPI routes.
SHOWN_DOC = re.compile(r"command|callback|\.(get|post|put|patch|delete|api_route)\(")


def _strings(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def user_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every text a user may read."""
    for lang, po in catalogs.po_files().items():
        for m in messages.read(po):
            if m.id:
                yield f"{lang} catalog {m.id}", m.string
    for path in sorted((SRC / "web" / "templates").glob("*.html")):
        yield str(path.relative_to(SRC)), path.read_text(encoding="utf-8")
    for path in sorted(SRC.rglob("*.yaml")):
        for text in _strings(yaml.safe_load(path.read_text(encoding="utf-8"))):
            yield str(path.relative_to(SRC)), text
    for path in sorted(SRC.rglob("*.toml")):
        for text in _strings(tomllib.loads(path.read_text(encoding="utf-8"))):
            yield str(path.relative_to(SRC)), text
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        # Docstrings are for developers — except a command's (its --help) and a route's (the
        # API docs page), which are scanned like any other string.
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
            and not any(
                SHOWN_DOC.search(ast.unparse(d)) for d in getattr(node, "decorator_list", ())
            )
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
            ):
                yield f"{path.relative_to(SRC)}:{node.lineno}", node.value


def test_the_pattern_finds_internal_citations_and_spares_ordinary_words() -> None:
    for cited in (
        "figures from issue #4",
        "（issue 4 所列份额）",
        "种子004",
        "种子未给出",
        "seed 003",
        "the seed starts a pilot",
        "see DESIGN.md",
        "/work/shared/seeds/README.md",
        "001",
    ):
        assert INTERNAL.search(cited), cited
    for ordinary in (
        "种子期",
        "随机种子 / random seed",
        "seed stage",
        "--seed",
        "海州种子投资有限公司",
    ):
        assert not INTERNAL.search(ordinary), ordinary


def test_no_user_visible_text_cites_an_internal_source() -> None:
    seen = 0
    found = []
    for where, text in user_texts():
        seen += 1
        m = INTERNAL.search(text)
        if m:
            found.append(f"{where}: …{text[max(0, m.start() - 30) : m.end() + 30]}…")
    assert seen > 5000  # catalogs, templates, libraries and code were all read
    assert not found, "internal sources cited to users:\n" + "\n".join(found)
