"""Hand-made .xlsx files for the limit tests: a few KB on disk, as large as wanted once unpacked.

openpyxl cannot write a bomb (it writes what it holds in memory), so the parts are written here,
the sheet streamed into the zip row by row with inline strings and no cell references, which
Excel and openpyxl both accept and which deflate compresses about a thousandfold.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    ),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="data" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        "</Relationships>"
    ),
}


def _row(cells: list[str]) -> str:
    inner = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in cells)
    return f"<row>{inner}</row>"


def write_xlsx(path: Path, header: list[str], row: list[str], rows: int) -> Path:
    """``header`` then ``rows`` copies of ``row``, streamed: memory stays flat however many.

    A cell ``"{n}"`` becomes the row's number, which keeps the file an ordinary one: it then
    compresses like a real sheet instead of a thousandfold.
    """
    if "{n}" in row:
        return _numbered(path, header, row, rows)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in _PARTS.items():
            zf.writestr(name, text)
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            out.write(
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                b"<sheetData>" + _row(header).encode()
            )
            block = _row(row).encode() * 1000
            for _ in range(rows // 1000):
                out.write(block)
            out.write(_row(row).encode() * (rows % 1000))
            out.write(b"</sheetData></worksheet>")
    return path


def _numbered(path: Path, header: list[str], row: list[str], rows: int) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in _PARTS.items():
            zf.writestr(name, text)
        body = "".join(_row([str(n) if v == "{n}" else v for v in row]) for n in range(rows))
        zf.writestr(
            "xl/worksheets/sheet1.xml",
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{_row(header)}{body}</sheetData></worksheet>",
        )
    return path
