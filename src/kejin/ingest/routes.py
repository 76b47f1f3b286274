"""The import API: a government administrator posts a department file (CSV or Excel) and gets
the counts, or every bad row with row, column, value and the reason in Chinese and English."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from sqlalchemy.orm import Session

from kejin.access.deps import TX, permit
from kejin.access.rules import Principal, Rule, add_rules
from kejin.ingest.kinds import KINDS
from kejin.ingest.upload import CappedUpload, run_upload

add_rules([Rule("ingest.import", "gov_admin", "region")])

router = APIRouter(prefix="/api", tags=["ingest 数据导入"], route_class=CappedUpload)


@router.post("/imports", summary="导入部门数据文件 / import a department file")
def import_upload(
    request: Request,
    kind: str = Form(..., max_length=40, description=f"数据类别 / kind: {', '.join(KINDS)}"),
    file: UploadFile = File(..., description="CSV / XLSX / Parquet"),
    source: str = Form("", max_length=40, description="来源部门（留空取默认）/ department"),
    dry_run: bool = Form(False, description="只校验并统计，不写入 / validate and count only"),
    p: Principal = permit("ingest.import"),
    s: Session = TX,
) -> dict[str, Any]:
    """All rows valid, or nothing written: a bad file is answered 422 with every problem (file,
    row, field, value, reason_zh, reason_en); a good one with rows inserted/updated/unchanged."""
    out = run_upload(
        s,
        request.app.state.engine,
        p,
        kind=kind,
        filename=file.filename,
        data=file.file,
        source=source or None,
        dry_run=dry_run,
    )
    return out.to_dict()
