"""The import page: choose the kind, upload the file, dry-run it or import it; every bad row is
listed in place (row, column, value, reason in Chinese and English) and nothing is written."""

from __future__ import annotations

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from sqlalchemy.orm import Session

from kejin.access.deps import TX, check_csrf, permit
from kejin.access.rules import Principal
from kejin.errors import ValidationError
from kejin.ingest.kinds import KINDS
from kejin.ingest.upload import CappedUpload, run_upload
from kejin.vocab import DEPARTMENTS
from kejin.web.pages import render

router = APIRouter(include_in_schema=False, route_class=CappedUpload)


def _page(request: Request, status: int = 200, **ctx: object) -> Response:
    base = {"kinds": list(KINDS), "depts": DEPARTMENTS, "kind": "", "source": "", "out": None}
    return render(request, "ingest.html", {**base, "err": None, **ctx}, status)


@router.get("/ingest")
def ingest_page(request: Request, p: Principal = permit("ingest.import")) -> Response:
    return _page(request)


@router.post("/ingest")
def ingest_upload(
    request: Request,
    kind: str = Form("", max_length=40),
    source: str = Form("", max_length=40),
    mode: str = Form("dry", max_length=10),
    file: UploadFile | None = File(None),
    csrf_token_: str = Form("", alias="csrf_token"),
    p: Principal = permit("ingest.import"),
    s: Session = TX,
) -> Response:
    check_csrf(request, csrf_token_)
    form = {"kind": kind, "source": source}
    if file is None or not file.filename:
        err = ValidationError("请选择要上传的文件", "choose a file to upload")
        return _page(request, 422, err=err, **form)
    try:
        out = run_upload(
            s,
            request.app.state.engine,
            p,
            kind=kind,
            filename=file.filename,
            data=file.file,
            source=source or None,
            dry_run=mode != "commit",
        )
    except ValidationError as e:
        return _page(request, 422, err=e, **form)
    return _page(request, out=out, **form)
