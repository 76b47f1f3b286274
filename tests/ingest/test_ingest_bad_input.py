"""Each class of bad input names its row, column and reason, and leaves the database untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from ingest_fixtures import FIRM_A, FIRM_B, make_uscc, snapshot
from sqlalchemy import Engine

from kejin.errors import ValidationError
from kejin.ingest.service import import_file

GOOD_NEW = make_uscc("320723", 77)
BAD_CHECK = GOOD_NEW[:-1] + ("0" if GOOD_NEW[-1] != "0" else "1")
ENT_HEAD = "统一社会信用代码,企业名称,行政区划代码,行业代码,成立日期,生命周期阶段\n"

# (id, kind, csv text, expected problems as (row, field, zh fragment, en fragment))
CASES = [
    (
        "unknown column",
        "indicators",
        f"uscc,year,revenue,营收增长率\n{FIRM_A},2024,1.00,3\n",
        [(1, "营收增长率", "未知列", "unknown column")],
    ),
    (
        "missing key column",
        "indicators",
        f"uscc,revenue\n{FIRM_A},1.00\n",
        [(1, "year", "缺少必填列", "missing required column")],
    ),
    (
        "missing required column for a new firm",
        "enterprises",
        f"uscc,name\n{FIRM_A},改名\n{GOOD_NEW},新企业\n",
        [
            (3, "region_code", "新记录缺少必填列", "lacks required column"),
            (3, "industry_code", "新记录缺少必填列", "lacks required column"),
            (3, "founded_on", "新记录缺少必填列", "lacks required column"),
            (3, "stage", "新记录缺少必填列", "lacks required column"),
        ],
    ),
    (
        "wrong types",
        "indicators",
        "uscc,year,revenue,invention_patents\n"
        f"{FIRM_A},2024,一百万,3\n{FIRM_B},2024,100,2.5\n{FIRM_A},二〇二四,1,1\n",
        [
            (2, "revenue", "不是数字", "not a number"),
            (3, "invention_patents", "不是整数", "not a whole number"),
            (4, "year", "不是整数", "not a whole number"),
        ],
    ),
    (
        "bad date and boolean",
        "enterprises",
        ENT_HEAD.rstrip("\n")
        + ",失信\n"
        + f"{GOOD_NEW},某公司,320723,C3985,2020-13-45,seed,也许\n",
        [
            (2, "founded_on", "日期格式无法识别", "unrecognised date"),
            (2, "dishonest", "是/否", "yes/no"),
        ],
    ),
    (
        "negative money",
        "indicators",
        f"uscc,year,revenue,profit,rd_expense\n{FIRM_A},2024,-5.00,-3.00,1\n",
        [(2, "revenue", "金额不能为负数", "money cannot be negative")],
    ),
    (
        "too many decimals are refused, not rounded",
        "indicators",
        f"uscc,year,revenue\n{FIRM_A},2024,10.005\n",
        [(2, "revenue", "小数位数超过 2 位", "more than 2 decimal places")],
    ),
    (
        "validity dates out of order",
        "qualifications",
        "uscc,kind,certificate_no,valid_from,valid_to\n"
        f"{FIRM_A},hnte,GR1,2024-12-01,2024-01-01\n{FIRM_B},tsme,T1,2024-01-01,2024-01-01\n",
        [(2, "valid_to", "早于", "is before")],
    ),
    (
        "loan maturity not after start, line below amount",
        "loans",
        "contract_no,uscc,institution_id,amount,credit_line,rate,disbursed_on,maturity_on,guarantee_type\n"
        f"X-1,{FIRM_A},B001,100.00,50.00,0.03,2024-05-01,2024-05-01,credit\n",
        [
            (2, "credit_line", "小于", "less than"),
            (2, "maturity_on", "早于或等于", "before or on"),
        ],
    ),
    (
        "invalid USCC",
        "enterprises",
        ENT_HEAD + f"{BAD_CHECK},某公司,320723,C3985,2020-01-01,seed\n"
        "91320700MA00000O1X,某公司,320723,C3985,2020-01-01,seed\n",
        [
            (2, "uscc", "校验码", "check character"),
            (3, "uscc", "统一社会信用代码无效", "invalid USCC"),
        ],
    ),
    (
        "unknown vocabulary value",
        "enterprises",
        ENT_HEAD + f"{GOOD_NEW},某公司,320723,C3985,2020-01-01,青春期\n",
        [(2, "stage", "代码表中没有此值", "not in the vocabulary")],
    ),
    (
        "duplicate keys in one file",
        "indicators",
        f"uscc,year,revenue\n{FIRM_A},2024,1\n{FIRM_B},2024,2\n{FIRM_A},2024,3\n{FIRM_A},2024,4\n",
        [
            (4, "year", "与第 2 行重复", "duplicate key (uscc, year) of row 2"),
            (5, "year", "与第 2 行重复", "duplicate key (uscc, year) of row 2"),
        ],
    ),
    (
        "references to a firm not in the database",
        "indicators",
        f"uscc,year,revenue\n{GOOD_NEW},2024,1\n",
        [(2, "uscc", "数据库中不存在此企业", "not found in enterprises")],
    ),
    (
        "references to institution, product and loan",
        "loans",
        "contract_no,uscc,institution_id,product_id,amount,credit_line,rate,disbursed_on,maturity_on,guarantee_type\n"
        f"X-1,{FIRM_A},B999,,1,1,0.03,2024-01-01,2025-01-01,credit\n"
        f"X-2,{FIRM_A},B002,B001-SCI,1,1,0.03,2024-01-01,2025-01-01,credit\n",
        [
            (2, "institution_id", "不存在此机构", "not found in institutions"),
            (3, "product_id", "属于机构 B001", "belongs to institution B001"),
        ],
    ),
    (
        "status of an unknown loan",
        "loan-status",
        "contract_no,month,balance,classification\nNOPE-1,2024-03,100,正常\n",
        [(2, "contract_no", "不存在此贷款合同", "not found in loans")],
    ),
    (
        "month not on the first day",
        "loan-status",
        "contract_no,month,balance,classification\nJSB-2023-0001,2024-03-15,100,正常\n",
        [(2, "month", "当月1日", "first day")],
    ),
]


@pytest.mark.parametrize(
    ("kind", "text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_is_reported_and_nothing_written(
    loaded: Engine, write, kind: str, text: str, expected: list[tuple[int, str, str, str]]
) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(loaded)
    path = write("bad.csv", text)
    with pytest.raises(ValidationError) as err:
        import_file(loaded, kind, path)
    got = [(p.row, p.field) for p in err.value.problems]
    assert got == [(r, f) for r, f, _, _ in expected], err.value.render()
    for p, (_, _, zh, en) in zip(err.value.problems, expected, strict=True):
        assert zh in p.reason_zh and en in p.reason_en, p.render()
        assert p.file == "bad.csv"
    assert snapshot(loaded) == before


def test_every_bad_row_is_listed_among_good_ones(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    lines = ["uscc,year,revenue"]
    bad_rows = []
    for i in range(200):
        year = 1990 + i % 30
        firm = FIRM_A if i < 100 else FIRM_B
        value = "-1" if i % 17 == 0 else str(i)
        if i % 17 == 0:
            bad_rows.append(i + 2)
        lines.append(f"{firm},{year if i % 100 < 30 else 1700 + i},{value}")
    # rows with year 1700+i (i%100 >= 30) are out of range too
    bad_rows = sorted(set(bad_rows) | {i + 2 for i in range(200) if i % 100 >= 30})
    before = snapshot(loaded)
    with pytest.raises(ValidationError) as err:
        import_file(loaded, "indicators", write("many.csv", "\n".join(lines) + "\n"))
    assert sorted({p.row for p in err.value.problems}) == bad_rows
    assert snapshot(loaded) == before


def test_value_quoted_as_written(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as err:
        import_file(
            loaded, "indicators", write("v.csv", f'uscc,year,revenue\n{FIRM_A},2024," -1,000.5 "\n')
        )
    (p,) = err.value.problems
    assert p.value == "-1,000.5" and p.field == "revenue"


BROKEN = [
    ("empty.csv", b"", "文件为空", "empty"),
    ("header-only.csv", b"uscc,year,revenue\n", "没有数据行", "no data rows"),
    ("blank.csv", b"\n\n  \n", "文件为空", "empty"),
    ("binary.xlsx", b"\x00\x01not a zip at all", "不是 Excel", "not an Excel"),
    ("cut.xlsx", None, "Excel 文件", "Excel workbook"),
    ("cut.parquet", None, "Parquet", "Parquet"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "xls", ".xls"),
    ("latin.csv", b"uscc,year\n" + b"\xff\xfe\xfa\xfb\x81\x30\n", "编码", "encoding"),
]


def _truncated(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


@pytest.mark.parametrize(("name", "data", "zh", "en"), BROKEN, ids=[b[0] for b in BROKEN])
def test_unreadable_truncated_or_empty_file(
    loaded: Engine, tmp_path: Path, name: str, data: bytes | None, zh: str, en: str
) -> None:
    from ingest_fixtures import EXAMPLES

    path = tmp_path / name
    if data is None:
        src = EXAMPLES / ("qualifications.xlsx" if name.endswith("xlsx") else "indicators.parquet")
        _truncated(src, path)
    else:
        path.write_bytes(data)
    kind = "indicators"
    before = snapshot(loaded)
    with pytest.raises(ValidationError) as err:
        import_file(loaded, kind, path)
    (p,) = err.value.problems
    assert p.file == name
    assert zh in p.reason_zh and en in p.reason_en, p.render()
    assert snapshot(loaded) == before


def test_truncated_csv_with_open_quote_names_the_row(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    path = write("cut.csv", f'uscc,year,revenue\n{FIRM_A},2021,1\n{FIRM_A},2022,"12')
    before = snapshot(loaded)
    with pytest.raises(ValidationError) as err:
        import_file(loaded, "indicators", path)
    (p,) = err.value.problems
    assert p.row == 3 and "截断" in p.reason_zh and "truncated" in p.reason_en
    assert snapshot(loaded) == before


def test_row_with_extra_fields_is_named(loaded: Engine, write) -> None:  # type: ignore[no-untyped-def]
    path = write("ragged.csv", f"uscc,year,revenue\n{FIRM_A},2021,1\n{FIRM_A},2022,1,2,3\n")
    with pytest.raises(ValidationError) as err:
        import_file(loaded, "indicators", path)
    (p,) = err.value.problems
    assert p.row == 3 and "多于表头" in p.reason_zh


def test_missing_file_is_a_problem_not_a_traceback(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as err:
        import_file(engine, "enterprises", tmp_path / "nope.csv")
    assert err.value.problems[0].file == "nope.csv"
