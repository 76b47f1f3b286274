"""Model artefacts as sealed JSON: what a model is, byte for byte, without pickles.

An artefact carries a schema id and a SHA-256 of its own canonical form (sorted keys, compact
separators, no NaN), so a scorer can refuse a file that was edited by hand or written by a
different, incompatible version. The file on disk is the same canonical content pretty-printed
with sorted keys: the same model always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from kejin.errors import Problem, ValidationError

SCORECARD_SCHEMA = "kejin.credit.scorecard/1"
GBM_SCHEMA = "kejin.credit.gbm/1"
SCHEMAS = (SCORECARD_SCHEMA, GBM_SCHEMA)


def canonical(obj: Any) -> bytes:
    """The hashed form: sorted keys, compact, UTF-8, and NaN/inf refused."""
    return json.dumps(
        obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode()


def content_hash(artefact: dict) -> str:
    body = {k: v for k, v in artefact.items() if k != "content_hash"}
    return hashlib.sha256(canonical(body)).hexdigest()


def seal(artefact: dict) -> dict:
    """Return the artefact with its ``content_hash`` set (computed over everything else)."""
    out = {k: v for k, v in artefact.items() if k != "content_hash"}
    out["content_hash"] = content_hash(out)
    return out


def dumps(artefact: dict) -> str:
    """The file form: sealed, sorted keys, indented, trailing newline."""
    return json.dumps(seal(artefact), sort_keys=True, ensure_ascii=False, indent=1) + "\n"


def library_versions(*names: str) -> dict[str, str]:
    """Versions of the libraries whose behaviour a model depends on (recorded, not enforced)."""
    out = {}
    for n in ("kejin", "numpy", *names):
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "absent"
    return out


def loads(text: str, source: str = "<artefact>") -> dict:
    """Parse and verify an artefact; refuse a wrong schema or a hash mismatch."""
    try:
        art = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(
            "模型文件不是有效的JSON",
            "model file is not valid JSON",
            [Problem(f"第{e.lineno}行: {e.msg}", f"line {e.lineno}: {e.msg}", file=source)],
        ) from None
    if not isinstance(art, dict) or art.get("schema") not in SCHEMAS:
        got = art.get("schema") if isinstance(art, dict) else type(art).__name__
        raise ValidationError(
            "模型文件的格式版本不受支持",
            "unsupported model schema",
            [
                Problem(
                    f"应为 {' 或 '.join(SCHEMAS)}",
                    f"expected {' or '.join(SCHEMAS)}",
                    file=source,
                    field="schema",
                    value=got,
                )
            ],
        )
    want = art.get("content_hash")
    got_hash = content_hash(art)
    if want != got_hash:
        raise ValidationError(
            "模型文件已被修改（内容哈希不符），拒绝使用",
            "model file was altered (content hash mismatch); refused",
            [
                Problem(
                    f"记录的哈希 {want}，实际 {got_hash}",
                    f"recorded {want}, computed {got_hash}",
                    file=source,
                    field="content_hash",
                    value=want,
                )
            ],
        )
    return art


def load(path: str | Path) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(
            "模型文件不存在", "model file not found", [Problem("", "", file=str(p))]
        ) from None
    return loads(text, str(p))


def save(artefact: dict, path: str | Path) -> str:
    """Write the sealed artefact; returns its content hash."""
    text = dumps(artefact)
    Path(path).write_text(text, encoding="utf-8")
    return json.loads(text)["content_hash"]
