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
from kejin.web import flash
from kejin.web.flash import see_other
from kejin.web.pages import render

router = APIRouter(include_in_schema=False, route_class=CappedUpload)


@router.get("/ingest")
def ingest_page(
    request: Request, p: Principal = permit("ingest.import"), s: Session = TX
) -> Response:
    """The form, and the last upload's outcome or its bad rows (carried here by a flash)."""
    f = flash.read(request, s)
    ctx = {
        "kinds": list(KINDS),
        "depts": DEPARTMENTS,
        "kind": f.form.get("kind", ""),
        "source": f.form.get("source", ""),
        "out": f.data.get("out"),
        "err": f.error,
    }
    return render(request, "ingest.html", ctx)


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
    try:
        if file is None or not file.filename:
            raise ValidationError("请选择要上传的文件", "choose a file to upload")
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
        return flash.refused(request, s, "/ingest", e, form)
    return see_other(request, "/ingest", flash=flash.put(s, request, form=form, out=out.to_dict()))
