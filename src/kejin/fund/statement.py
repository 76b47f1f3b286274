"""A pool's ledger as a statement people read: per party — the government funders, the banks,
the guarantor, the insurer — by name, its accounts by purpose label, zero balances folded.

The ledger keeps one account per (party, purpose), about forty for a pool with a dozen banks,
most of them zero; an officer asks "what has each party put in, been paid, recovered". The
figures are :func:`kejin.fund.ledger.trial_balance`'s, unchanged; only grouped and named.
"""

from __future__ import annotations

from decimal import Decimal
from typing import IO, Any

from sqlalchemy import Engine, select

from kejin.exports import Book
from kejin.fund import ledger, service
from kejin.lending.tables import Institution
from kejin.vocab import FUND_ROLES, LEDGER_PURPOSES

_PURPOSE_ORDER = {k: i for i, k in enumerate(LEDGER_PURPOSES)}
_ROLE_ORDER = {k: i for i, k in enumerate(FUND_ROLES)}


def _label(zh: str, en: str, lang: str) -> str:
    return en if lang == "en" else zh


def statement(engine: Engine, pool_id: str, lang: str) -> dict[str, Any]:
    """The pool's parties in role order, each with its non-zero accounts and how many zero
    accounts were folded; memo accounts (loss shares kept for reference) are marked."""
    with engine.connect() as conn:
        scheme, _ = service.pool_scheme(conn, pool_id)
        rows = ledger.trial_balance(conn, pool_id)
        insts = {
            r.id: r
            for r in conn.execute(select(Institution.id, Institution.name, Institution.kind))
        }
    parts = {x.id: x for x in scheme.participants}
    parties: dict[str, dict[str, Any]] = {}
    for r in rows:
        pid = r["party"]
        if pid not in parties:
            if pid in parts:
                x = parts[pid]
                name, role = _label(x.name_zh, x.name_en, lang), x.role
            elif pid in insts:
                name = insts[pid].name
                role = insts[pid].kind if insts[pid].kind in FUND_ROLES else "bank"
            else:
                name, role = _label("其他参与方", "another party", lang), "bank"
            t = FUND_ROLES[role]
            parties[pid] = {
                "party": pid,
                "name": name,
                "role": role,
                "role_label": _label(t.zh, t.en, lang),
                "lines": [],
                "folded": 0,
            }
        p = parties[pid]
        bal = Decimal(r["balance"])
        if bal == 0:
            p["folded"] += 1
            continue
        t = LEDGER_PURPOSES.get(r["purpose"])
        p["lines"].append(
            {
                "purpose": _label(t.zh, t.en, lang) if t else _label("其他", "other", lang),
                "order": _PURPOSE_ORDER.get(r["purpose"], 99),
                "memo": bool(r["memo"]),
                "balance": bal,
            }
        )
    out = sorted(parties.values(), key=lambda p: (_ROLE_ORDER.get(p["role"], 9), p["name"]))
    for p in out:
        p["lines"].sort(key=lambda x: (x["memo"], x["order"]))
    shown = [p for p in out if p["lines"]]
    return {
        "pool": pool_id,
        "parties": shown,
        "quiet_parties": [p["name"] for p in out if not p["lines"]],
        "accounts": len(rows),
        "folded": sum(p["folded"] for p in out),
    }


def workbook(engine: Engine, pool_id: str, name: str, lang: str) -> IO[bytes]:
    """The statement as an Excel sheet (through :mod:`kejin.exports`): one row per non-zero
    account, party and purpose by name."""
    st = statement(engine, pool_id, lang)
    book = Book(streaming=True)
    ws = book.sheet("对账单 statement")
    ws.widths([30, 14, 24, 10, 18])
    ws.freeze("A3")
    ws.row([f"{name} · 资金池对账单 / fund statement"])
    ws.row(
        [
            "参与方 / party",
            "角色 / role",
            "科目 / purpose",
            "备查 / memo",
            "余额（元）/ balance (CNY)",
        ]
    )
    for p in st["parties"]:
        for x in p["lines"]:
            ws.row(
                [
                    p["name"],
                    p["role_label"],
                    x["purpose"],
                    "是 / yes" if x["memo"] else "",
                    float(x["balance"]),
                ]
            )
    ws.row([])
    ws.row([f"零余额科目已折叠 / zero accounts folded: {st['folded']} / {st['accounts']}"])
    return book.spooled()
