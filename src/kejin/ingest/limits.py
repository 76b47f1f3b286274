"""Bounds judged before a department file is parsed, so that a small file cannot cost gigabytes.

An .xlsx is a zip of XML: 300 KB of it expanded to 6.5 GB in a worker, because openpyxl loads the
shared strings whole and the reader kept every cell. The zip's central directory declares each
member's packed and unpacked size, and reading it costs nothing, so an .xlsx is refused there —
too large once unpacked, a member that expands too much, or no valid zip at all — before openpyxl
opens it (:mod:`zipfile` also stops any member at its declared size, so a lying directory gains
nothing). Parquet declares its row count and unpacked size in its footer, judged the same way.
Rows are capped as they are read, so an over-long file is refused at the first row past the cap.

Every limit is a setting (``KEJIN_INGEST_*``) and every refusal names it, in Chinese and English.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from kejin.config import get_settings
from kejin.errors import Problem, ValidationError

#: Members smaller than this are never judged by their ratio: tiny XML parts compress well and
#: cannot hurt; a bomb needs a large unpacked size.
_RATIO_FLOOR = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How large a department file may be: on disk, in rows, and (zip) once unpacked."""

    max_bytes: int
    max_rows: int
    max_unzipped_bytes: int
    max_zip_ratio: float

    @classmethod
    def configured(cls) -> Limits:
        s = get_settings()
        return cls(
            s.ingest_max_bytes,
            s.ingest_max_rows,
            s.ingest_max_unzipped_bytes,
            s.ingest_max_zip_ratio,
        )


def size_text(n: int) -> str:
    """Bytes as a person reads them: ``1,000 B`` below a megabyte, ``200 MB`` above."""
    return f"{n:,} B" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.0f} MB"


def refuse(
    file: str,
    zh: str,
    en: str,
    *,
    field: str | None = None,
    value: object = None,
    row: int | None = None,
) -> ValidationError:
    """The refusal of a whole file: nothing was read past the point that broke the limit."""
    return ValidationError(
        f"文件 {file} 超出限制或已损坏，未读取数据",
        f"file {file} exceeds a limit or is damaged; nothing was read",
        [Problem(zh, en, file=file, row=row, field=field, value=value)],
    )


def check_size(path: Path, size: int, limits: Limits) -> None:
    """A file larger than ``KEJIN_INGEST_MAX_BYTES`` is refused before it is read at all."""
    if size > limits.max_bytes:
        raise refuse(
            path.name,
            f"文件大小 {size_text(size)} 超过上限 {size_text(limits.max_bytes)}"
            "（配置项 KEJIN_INGEST_MAX_BYTES），请拆分后导入",
            f"file size {size_text(size)} exceeds the limit of {size_text(limits.max_bytes)}"
            " (setting KEJIN_INGEST_MAX_BYTES); split the file",
            value=size,
        )


def too_many_rows(file: str, limits: Limits) -> ValidationError:
    """The refusal raised at the first data row past ``KEJIN_INGEST_MAX_ROWS``."""
    n = limits.max_rows
    return refuse(
        file,
        f"数据行数超过上限 {n:,} 行（配置项 KEJIN_INGEST_MAX_ROWS），请拆分后导入",
        f"more than {n:,} data rows, the limit (setting KEJIN_INGEST_MAX_ROWS); split the file",
        row=n + 2,
        value=n,
    )


def check_rows(file: str, rows: int, limits: Limits) -> None:
    if rows > limits.max_rows:
        raise too_many_rows(file, limits)


def check_zip(path: Path, limits: Limits) -> None:
    """Judge an .xlsx by its zip directory alone: malformed, too large unpacked, or a bomb."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        raise refuse(
            path.name,
            "Excel 文件不是有效的 zip 压缩包（可能已损坏或被截断）",
            f"the Excel workbook is not a valid zip archive (damaged or truncated?): {e}",
        ) from None
    total = 0
    for m in members:
        total += m.file_size
        ratio = m.file_size / max(m.compress_size, 1)
        if m.file_size > _RATIO_FLOOR and ratio > limits.max_zip_ratio:
            raise refuse(
                path.name,
                f"压缩包成员 {m.filename} 解压后膨胀 {ratio:,.0f} 倍，超过上限"
                f" {limits.max_zip_ratio:,.0f} 倍（配置项 KEJIN_INGEST_MAX_ZIP_RATIO），疑似压缩炸弹",
                f"zip member {m.filename} expands {ratio:,.0f}-fold, more than the limit of"
                f" {limits.max_zip_ratio:,.0f} (setting KEJIN_INGEST_MAX_ZIP_RATIO): a zip bomb?",
                field=m.filename,
                value=round(ratio),
            )
    if total > limits.max_unzipped_bytes:
        raise refuse(
            path.name,
            f"Excel 文件解压后共 {size_text(total)}，超过上限 {size_text(limits.max_unzipped_bytes)}"
            "（配置项 KEJIN_INGEST_MAX_UNZIPPED_BYTES），请拆分或另存为 CSV",
            f"the workbook unpacks to {size_text(total)}, more than the limit of"
            f" {size_text(limits.max_unzipped_bytes)} (setting KEJIN_INGEST_MAX_UNZIPPED_BYTES);"
            " split it or save as CSV",
            value=total,
        )
