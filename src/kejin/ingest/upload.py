"""A department file uploaded on the web, imported exactly as ``kejin import`` does.

The upload is streamed to a private temporary directory under its own (sanitised) file name, so
every problem names the file the clerk chose, then :func:`kejin.ingest.service.import_file`
validates and writes it all-or-nothing. Every attempt — dry run, import, or file refused with its
problems — is recorded in the audit log with the file's SHA-256, so "who loaded what, when" can
be answered and the very file matched later.

Upload routes use :class:`CappedUpload`, which refuses a body over the configured file size as it
arrives (by its declared length, else by counting): FastAPI spools the whole multipart body to
disk before a handler sees it, so a check in the handler came after the harm.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from kejin.access import service as access
from kejin.access.rules import Principal, authorize
from kejin.db import transaction
from kejin.errors import Problem, ValidationError
from kejin.ingest.limits import Limits, size_text
from kejin.ingest.service import import_file, resolve
from kejin.ingest.upsert import Outcome

_CHUNK = 1024 * 1024
#: Room for the multipart envelope and the small form fields beside the file.
_FORM_SLACK = 64 * 1024


def _too_large(file: str | None = None) -> ValidationError:
    cap = size_text(Limits.configured().max_bytes)
    return ValidationError(
        f"文件超过 {cap}（配置项 KEJIN_INGEST_MAX_BYTES），请拆分后上传",
        f"file larger than {cap} (setting KEJIN_INGEST_MAX_BYTES); split it",
        [Problem("文件过大", "file too large", file=file, field="file")],
    )


class _BodyTooLarge(Exception):
    """Raised inside the body stream; turned into the bilingual refusal by the route."""


class CappedUpload(APIRoute):
    """A route whose request body may not exceed the configured file size (plus the form)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def capped(request: Request) -> Response:
            cap = Limits.configured().max_bytes + _FORM_SLACK
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > cap:
                raise _too_large()
            receive, seen = request.receive, 0

            async def counted() -> Any:
                nonlocal seen
                message = await receive()
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise _BodyTooLarge
                return message

            try:
                return await handle(Request(request.scope, counted))
            except HTTPException as e:  # FastAPI wraps what breaks while it parses the form
                if isinstance(e.__cause__, _BodyTooLarge):
                    raise _too_large() from None
                raise

        return capped


def safe_name(name: str | None) -> str:
    """The client's file name without any directory part or characters a path could misuse."""
    base = Path((name or "").replace("\\", "/")).name
    base = re.sub(r"[^\w.\-（）()\u4e00-\u9fff]+", "_", base).strip("._")
    return base[:120] or "upload.csv"


def _save(src: BinaryIO, dest: Path) -> str:
    """Copy the upload to ``dest`` in chunks, refusing an over-large or empty file; its SHA-256."""
    digest, size, cap = hashlib.sha256(), 0, Limits.configured().max_bytes
    with dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                raise _too_large(dest.name)
            digest.update(chunk)
            out.write(chunk)
    if size == 0:
        raise ValidationError(
            f"文件 {dest.name} 为空",
            f"file {dest.name} is empty",
            [Problem("空文件", "empty file", file=dest.name)],
        )
    return digest.hexdigest()


def run_upload(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    kind: str,
    filename: str | None,
    data: BinaryIO,
    source: str | None,
    dry_run: bool,
) -> Outcome:
    """Import (or dry-run) an uploaded file; audited whether it passes or is refused."""
    authorize(s, p, "ingest.import")
    name = safe_name(filename)
    resolve(kind, source or None)  # an unknown kind or department is refused before saving
    with tempfile.TemporaryDirectory(prefix="kejin-upload-") as tmp:
        path = Path(tmp) / name
        digest = _save(data, path)
        return import_audited(
            s, engine, p, kind=kind, path=path, source=source, dry_run=dry_run, sha256=digest
        )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def import_audited(
    s: Session,
    engine: Engine,
    p: Principal,
    *,
    kind: str,
    path: Path,
    source: str | None,
    dry_run: bool,
    pulled_at: datetime | None = None,
    sha256: str | None = None,
    step: Callable[[str], None] | None = None,
    rows_read: Callable[[int], None] | None = None,
) -> Outcome:
    """Import (or dry-run) a file as ``p``: the web's upload and ``kejin import --who`` both end
    here. The rows and the audit record (with the file's SHA-256) commit together; a refused
    file is recorded too, with the number of its problems. The caller has checked ``p`` may
    (``ingest.import``), or ``p`` is the system principal of a scheduled feed."""
    spec_name, dept = resolve(kind, source or None)
    detail: dict[str, Any] = {
        "file": path.name,
        "kind": spec_name,
        "source": dept,
        "dry_run": dry_run,
        # A file that cannot be read is refused by the import below, naming it; no digest then.
        "sha256": sha256 or (_sha256(path) if path.is_file() else None),
    }
    try:
        out = import_file(
            engine, spec_name, path, source, dry_run, pulled_at, step, rows_read, session=s
        )
    except ValidationError as e:
        # The file's rows were written in this request's transaction (so an import commits
        # with its audit record): drop them now, which also frees SQLite's write lock for
        # the refusal's record. That record has its own transaction: the API rolls the
        # request's back on the 422.
        s.rollback()
        with transaction(engine) as own:
            access.log(
                own,
                p,
                "ingest.refused",
                "import",
                spec_name,
                detail={**detail, "problems": len(e.problems)},
            )
        raise
    access.log(
        s,
        p,
        "ingest.dry_run" if dry_run else "ingest.import",
        "import",
        spec_name,
        detail={**detail, **{k: v for k, v in out.to_dict().items() if k not in ("kind", "file")}},
    )
    return out
