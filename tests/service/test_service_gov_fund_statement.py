"""The fund ledger as a statement: per party by name, purposes by label, zero accounts folded,
on the page and in its Excel."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from kejin.fund import ledger
from kejin.fund.scheme import load_scheme
from kejin.vocab import LEDGER_PURPOSES

from .conftest import login
from .fundworld import POOL, build_fund


def test_the_statement_names_parties_and_folds_zero_accounts(app, engine, world) -> None:
    build_fund(engine, claims=True)
    with engine.connect() as conn:
        tb = ledger.trial_balance(conn, POOL)
    nonzero = [a for a in tb if a["balance"] != 0]
    assert len(nonzero) < len(tb)  # the world has zero accounts to fold
    gov = login(app, "gov")
    page = gov.get("/fund")
    table = page.text.split(f'id="accounts-{POOL}"')[1].split("</table>")[0]
    rows = re.findall(r'<td class="num">([^<]+)</td>', table)
    assert len(rows) == len(nonzero) and "0.00" not in [r.strip() for r in rows]
    scheme = load_scheme("anhui")
    pool_party = next(x for x in scheme.participants if x.role == "government_pool")
    assert pool_party.name_zh in table and "政府出资方" in table  # a party by its name and role
    assert all(c not in table for c in ("fee_income", "loss_contra", ">pool<", ">cash<", "BKA<"))
    assert any(LEDGER_PURPOSES[a["purpose"]].zh in table for a in nonzero)
    folded = len(tb) - len(nonzero)
    assert f"已折叠余额为零的科目 {folded} 个（共 {len(tb)} 个科目）" in page.text
    xl = gov.get(f"/fund/{POOL}/statement.xlsx")
    assert xl.status_code == 200
    body = list(
        load_workbook(io.BytesIO(xl.content), read_only=True).active.iter_rows(values_only=True)
    )
    lines = [r for r in body[2:] if r and len(r) >= 5 and isinstance(r[4], (int, float))]
    assert len(lines) == len(nonzero)
    assert sum(r[4] for r in lines) == float(sum(a["balance"] for a in nonzero))
    en = gov.get("/fund?lang=en").text.split(f'id="accounts-{POOL}"')[1].split("</table>")[0]
    assert "government funder" in en and "capital contributed" in en and "fee_income" not in en
    assert gov.get("/fund/NOPE/statement.xlsx").status_code == 404
    assert login(app, "bank").get(f"/fund/{POOL}/statement.xlsx").status_code == 403
