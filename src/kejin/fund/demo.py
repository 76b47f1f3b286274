"""Run a pool over the registry's loans and defaults, step by step through the real service.

Each step is an ordinary command with a deterministic idempotency key (``demo:<pool>:<step>:<id>``),
so running the demo twice replays instead of paying twice. Loan statuses come from the registry
(the banks' monthly reports); the pool runs over the last twelve status months (the synthetic
region's default window: the year of performing history before it has no defaults to pay, only
enrolments that would mature before the first claim); enrolment happens when a loan enters that
window, in disbursement order, until the pool's leverage limit refuses more; schemes with a guarantee fee
collect the first year's fee at enrolment. Claims are filed in the first
month the trigger holds, reviewed 2 working days later, approved 10 working days later and paid
the next day. The registry has no recovery data, so recoveries are an explicit, printed assumption
(``recovery_share`` of each loss recovered 90 days after payout, when that date falls within the
data's window).

Who acts: the government's steps (setting up the pool, the capital, the first review and the
payout) are taken by the person ``gov`` names and the approval by a second person ``checker``,
through :mod:`kejin.fund.desk` exactly as on the web (permission, maker-checker, audit record in
the money's transaction). The banks' and guarantors' side (enrolments, fees, claims, recoveries
of every bank in the region) is the region's recorded history replayed, no one's act on the
platform: it is recorded as the ``system`` principal, one audit event per step, marked simulated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from kejin.access.rules import Principal
from kejin.access.service import SYSTEM
from kejin.db import transaction
from kejin.errors import KejinError
from kejin.fund import desk, ledger
from kejin.fund import service as svc
from kejin.fund.ledger import Actor
from kejin.fund.report import write_report
from kejin.fund.scheme import load_scheme
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.synth.model import WINDOW_MONTHS
from kejin.vocab import CLASSIFICATIONS

#: Leverage the demo leaves the pool at, as a share of the scheme's limit: a pool left at its
#: limit (10.05 / 10 after the payouts shrank its cash) refused every bank's next enrolment.
HEADROOM = Decimal("0.9")
#: Replenishments are made in round sums, as a treasury transfers them.
ROUND_TO = Decimal("10000")
NOT_DUE = "recoveries not yet due by the data's last month"


def _why(e: KejinError) -> str:
    """A stable label for counting refusals (the field at fault, not the changing amounts)."""
    return e.problems[0].field if e.problems and e.problems[0].field else e.reason_en[:40]


def _reason(e: KejinError) -> tuple[str, str]:
    """The refusal as a person reads it (the problem's reason, else the error's)."""
    if e.problems and e.problems[0].reason_zh:
        return e.problems[0].reason_zh, e.problems[0].reason_en
    return e.reason_zh, e.reason_en


def drop_demo_pool(engine: Engine, pool: str) -> None:
    """Remove a *demo* pool and everything in it, so the demo can start again from scratch.

    Real pools are never deleted (corrections are reversals); only ids starting with ``demo_``
    are accepted here.
    """
    if not pool.startswith("demo_"):
        raise ValueError("only demo pools can be dropped")
    from sqlalchemy import delete

    from kejin.fund.ledger import ACC, BAL, CLAIM, CMD, ENT, PERIOD, POOL, POST
    from kejin.fund.service import ENR, SHARE

    with engine.begin() as conn:
        entries = select(ENT.c.id).where(ENT.c.pool_id == pool)
        conn.execute(delete(POST).where(POST.c.entry_id.in_(entries)))
        conn.execute(delete(ENT).where(ENT.c.pool_id == pool, ENT.c.reverses_id.is_not(None)))
        conn.execute(delete(ENT).where(ENT.c.pool_id == pool))
        accounts = select(ACC.c.id).where(ACC.c.pool_id == pool)
        conn.execute(delete(BAL).where(BAL.c.account_id.in_(accounts)))
        conn.execute(delete(ACC).where(ACC.c.pool_id == pool))
        claims = select(CLAIM.c.id).where(CLAIM.c.pool_id == pool)
        conn.execute(delete(SHARE).where(SHARE.c.claim_id.in_(claims)))
        conn.execute(delete(CLAIM).where(CLAIM.c.pool_id == pool))
        conn.execute(delete(ENR).where(ENR.c.pool_id == pool))
        conn.execute(delete(PERIOD).where(PERIOD.c.pool_id == pool))
        conn.execute(delete(CMD).where(CMD.c.pool_id == pool))
        conn.execute(delete(POOL).where(POOL.c.id == pool))


def _ensure_region(engine: Engine, firms: int, seed: int) -> None:
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(Loan)).scalar_one()
    if n == 0:
        from kejin.synth.service import build_region

        build_region(engine, firms=firms, seed=seed)


#: Reports progress: (what, done, total).
Tick = Callable[[str, int, int], None]


def _simulated(action: str, kind: str, entity: Any) -> ledger.AuditHook:
    """The audit record of a replayed bank-side step: the system principal, marked simulated."""
    from kejin.access.service import log

    def write(conn: Any, out: dict[str, Any]) -> None:
        from sqlalchemy.orm import Session

        with Session(bind=conn) as s:
            log(s, SYSTEM, action, kind, entity, after=out, detail={"simulated": "fund demo"})

    return write


def run_demo(
    engine: Engine,
    scheme: str,
    capital: Decimal,
    out: Path,
    gov: Principal,
    checker: Principal,
    firms: int = 5000,
    seed: int = 20241,
    recovery_share: Decimal = Decimal("0.20"),
    replace: bool = False,
    tick: Tick | None = None,
) -> dict[str, Any]:
    s = load_scheme(scheme)
    _ensure_region(engine, firms, seed)
    pool = f"demo_{s.id}"
    if replace:
        drop_demo_pool(engine, pool)
    with engine.connect() as conn:
        first, last = conn.execute(
            select(func.min(LoanStatus.month), func.max(LoanStatus.month))
        ).one()
        k12 = last.year * 12 + last.month - 1 - (WINDOW_MONTHS - 1)
        start = max(first, date(k12 // 12, k12 % 12 + 1, 1))
        data_end = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        loans = conn.execute(
            select(Loan.contract_no, Loan.uscc, Loan.disbursed_on, Loan.maturity_on)
            .join(Institution, Institution.id == Loan.institution_id)
            .where(Institution.kind == "bank", Loan.maturity_on > start)
            .order_by(Loan.disbursed_on, Loan.contract_no)
        ).all()
        statuses = conn.execute(
            select(
                LoanStatus.contract_no,
                LoanStatus.month,
                LoanStatus.days_past_due,
                LoanStatus.classification,
            )
            .where(LoanStatus.month >= start)
            .order_by(LoanStatus.contract_no, LoanStatus.month)
        ).all()
    k = f"demo:{pool}"
    why = f"demo of scheme {s.id}"
    with transaction(engine) as ses:
        desk.create_pool(
            ses,
            engine,
            gov,
            pool=pool,
            name=s.name_zh,  # the scheme file names it in every language (the id says demo)
            scheme=scheme,
            why=why,
            key=f"{k}:pool",
            on=start,
        )
    with transaction(engine) as ses:
        desk.deposit(
            ses,
            engine,
            gov,
            pool=pool,
            party=s.pool_parties[0],
            amount=capital,
            why=why,
            key=f"{k}:capital",
            on=start,
        )
    outcome: Counter[str] = Counter()
    reasons: dict[str, tuple[str, str]] = {}
    enrolled: set[str] = set()
    uscc = {c.contract_no: c.uscc for c in loans}
    for i, c in enumerate(loans):
        if tick is not None and i % 200 == 0:
            tick("入池 / enrolling", i, len(loans))
        on = max(c.disbursed_on, start)
        try:
            svc.enrol(
                engine,
                pool,
                c.contract_no,
                Actor(SYSTEM.username, on, "simulated bank"),
                f"{k}:enrol:{c.contract_no}",
                audit=_simulated("fund.enrol", "enterprise", c.uscc),
            )
            enrolled.add(c.contract_no)
            outcome["enrolled"] += 1
            if s.fee_rate is not None:  # the first year's guarantee fee, at enrolment
                svc.collect_fee(
                    engine,
                    pool,
                    c.contract_no,
                    None,
                    Actor(SYSTEM.username, on, "simulated guarantor"),
                    f"{k}:fee:{c.contract_no}",
                    audit=_simulated("fund.fee", "enterprise", c.uscc),
                )
                outcome["fees collected"] += 1
        except KejinError as e:
            outcome[f"enrol refused: {_why(e)}"] += 1
            reasons.setdefault(f"enrol refused: {_why(e)}", _reason(e))
    first_bad: dict[str, date] = {}
    order = list(CLASSIFICATIONS)
    for st in statuses:
        if st.contract_no in enrolled and st.contract_no not in first_bad:
            t = s.trigger
            if (t.days_past_due is not None and st.days_past_due >= t.days_past_due) or (
                t.classification is not None
                and order.index(st.classification) >= order.index(t.classification)
            ):
                first_bad[st.contract_no] = st.month
    last_day = start
    bad = sorted(first_bad.items(), key=lambda kv: (kv[1], kv[0]))
    for i, (contract, month) in enumerate(bad):
        if tick is not None:
            tick("理赔 / claims", i, len(bad))
        filed = month + timedelta(days=4)
        try:
            cid = svc.file_claim(
                engine,
                pool,
                contract,
                Actor(SYSTEM.username, filed, "default (simulated bank)"),
                f"{k}:claim:{contract}",
                audit=_simulated("fund.file", "enterprise", uscc[contract]),
            )["claim"]
            outcome["claims filed"] += 1
            rev = s.due_date(filed, 2)
            with transaction(engine) as ses:
                desk.review(
                    ses, engine, gov, cid, True, "documents complete", f"{k}:review:{cid}", on=rev
                )
            app = s.due_date(filed, 10)
            with transaction(engine) as ses:
                desk.approve(
                    ses, engine, checker, cid, True, "approved", f"{k}:approve:{cid}", on=app
                )
            paid_on = app + timedelta(days=1)
            with transaction(engine) as ses:
                out_pay = desk.pay(ses, engine, gov, cid, "payout", f"{k}:pay:{cid}", on=paid_on)
            outcome["claims paid"] += 1
            last_day = max(last_day, paid_on)
            if recovery_share > 0:
                claim = next(
                    c for c in svc.claims_table(engine, pool, paid_on) if c["claim"] == cid
                )
                amount = (claim["loss_base"] * recovery_share).quantize(Decimal("0.01"))
                rec_on = paid_on + timedelta(days=90)
                if rec_on > data_end:
                    outcome[NOT_DUE] += 1
                elif amount > 0 and Decimal(out_pay["paid"]) > 0:
                    svc.record_recovery(
                        engine,
                        cid,
                        amount,
                        Actor(SYSTEM.username, rec_on, "recovery (simulated bank)"),
                        f"{k}:recovery:{cid}",
                        audit=_simulated("fund.recover", "fund_claim", cid),
                    )
                    outcome["recoveries"] += 1
                    last_day = max(last_day, rec_on)
        except KejinError as e:
            outcome[f"claim refused: {_why(e)}"] += 1
            reasons.setdefault(f"claim refused: {_why(e)}", _reason(e))
    last_day = max(last_day, data_end)
    before = svc.summary(engine, pool, last_day)
    topped = replenish(engine, pool, s.pool_parties[0], before, gov, last_day)
    if tick is not None:
        tick("审计与报表 / audit and report", len(bad), len(bad))
    with engine.connect() as conn:
        rep = ledger.audit(conn, pool)
    files = write_report(engine, pool, last_day, out)
    summ = svc.summary(engine, pool, last_day)
    return {
        "pool": pool,
        "scheme": s.id,
        "loans_considered": len(loans),
        "outcome": dict(outcome),
        "assumption": f"recoveries: {recovery_share} of each loss, 90 days after payout",
        "balance": summ["balance"],
        "enrolled_balance": summ["enrolled_balance"],
        "leverage": summ["leverage"],
        "paid": summ["paid"],
        "recovered": summ["recovered"],
        "leverage_limit": summ["leverage_limit"],
        "over_leverage": summ["over_leverage"],
        "replenished": topped,
        "balance_before_replenishment": before["balance"],
        "leverage_before_replenishment": before["leverage"],
        "capital": capital,
        "recovery_share": recovery_share,
        "name_zh": s.name_zh,
        "name_en": s.name_en,
        "refusal_reasons": {k2: {"zh": zh, "en": en} for k2, (zh, en) in reasons.items()},
        "audit_ok": rep.ok,
        "files": {k2: str(v) for k2, v in files.items()},
    }


def replenish(
    engine: Engine, pool: str, funder: str, summ: dict[str, Any], gov: Principal, on: date
) -> Decimal:
    """Top the pool up when payouts have left it at or over its leverage limit, so that banks can
    enrol loans again: to :data:`HEADROOM` of the limit, in round sums. Zero when not needed.

    Payouts shrink the pool's cash under loans already covered; the scheme then refuses every
    new loan until the pool is replenished — the step a fund manager takes, and the demo too,
    so the pool it leaves behind is one a bank can use.
    """
    limit = summ["leverage_limit"]
    if limit is None or summ["enrolled_balance"] <= 0:
        return Decimal("0")
    need = summ["enrolled_balance"] / (limit * HEADROOM) - summ["balance"]
    if need <= 0:
        return Decimal("0")
    amount = (need / ROUND_TO).to_integral_value(rounding="ROUND_CEILING") * ROUND_TO
    # The key names the state the top-up answers: a rerun over the same state replays it; a
    # rerun that enrolled more (the pool had room again) tops up anew.
    key = f"demo:{pool}:replenish:{summ['enrolled_balance']}:{summ['balance']}"
    with transaction(engine) as ses:
        desk.deposit(
            ses,
            engine,
            gov,
            pool=pool,
            party=funder,
            amount=amount,
            why="replenish",
            key=key,
            on=on,
        )
    return amount


def story(res: dict[str, Any]) -> list[tuple[str, str]]:
    """What the demo did, in sentences (Chinese, English), from its result."""
    o = res["outcome"]
    lim = res["leverage_limit"]
    out = [
        (
            f"资金池「{res['name_zh']}（演示）」以 {res['capital']:,.2f} 元起步，"
            f"按数据中的放款顺序逐笔考察了 {res['loans_considered']:,} 笔银行贷款。",
            f"The pool “{res['name_en']} (demo)” started with {res['capital']:,.2f} CNY and "
            f"went through {res['loans_considered']:,} bank loans in order of disbursement.",
        ),
        (
            f"{o.get('enrolled', 0):,} 笔纳入风险补偿"
            + (f"，并收取首年担保费 {o['fees collected']:,} 笔" if o.get("fees collected") else "")
            + "。",
            f"{o.get('enrolled', 0):,} loans were enrolled"
            + (f", with the first year's fee collected on {o['fees collected']:,}" if o.get("fees collected") else "")
            + ".",
        ),
    ]  # fmt: skip
    for key, n in sorted(o.items()):
        if not key.startswith(("enrol refused", "claim refused")):
            continue
        zh, en = res["refusal_reasons"].get(key, {"zh": key, "en": key}).values()
        if key == "enrol refused: leverage":
            zh = f"资金池在保余额已达 {lim} 倍放大上限"
            en = f"the pool's enrolled balance had reached its {lim}× leverage limit"
        what = ("笔贷款未能纳入", "loans were not enrolled") if key.startswith("enrol") else (
            "笔代偿申请未获支付", "claims were not paid")  # fmt: skip
        out.append((f"{n:,} {what[0]}：{zh}。", f"{n:,} {what[1]}: {en}."))
    if o.get("claims filed"):
        out.append(
            (
                f"{o['claims filed']:,} 笔贷款触发代偿条件并申请补偿，其中 {o.get('claims paid', 0):,} 笔"
                f"经初审、审批后支付，共 {res['paid']:,.2f} 元。",
                f"{o['claims filed']:,} loans met the trigger and were claimed; "
                f"{o.get('claims paid', 0):,} were reviewed, approved and paid, {res['paid']:,.2f} CNY in all.",
            )
        )  # fmt: skip
    if o.get("recoveries") or o.get(NOT_DUE):
        share = f"{res['recovery_share']:.0%}"
        zh = f"按假设（每笔损失的 {share} 在赔付后 90 天追回）记录追回 {o.get('recoveries', 0):,} 笔，共 {res['recovered']:,.2f} 元"
        en = f"Assuming {share} of each loss is recovered 90 days after payout, {o.get('recoveries', 0):,} recoveries were recorded, {res['recovered']:,.2f} CNY"
        if o.get(NOT_DUE):
            zh += f"；另 {o[NOT_DUE]:,} 笔在数据截止时尚未到期"
            en += f"; {o[NOT_DUE]:,} more were not yet due by the data's last month"
        out.append((zh + "。", en + "."))
    if res["replenished"] > 0:
        out.append(
            (
                f"赔付使资金池余额降至 {res['balance_before_replenishment']:,.2f} 元，放大倍数达 "
                f"{res['leverage_before_replenishment']} / {lim}，新贷款将被拒绝；演示补充资金 "
                f"{res['replenished']:,.2f} 元，银行可继续申请纳入新贷款。",
                f"Payouts left the pool at {res['balance_before_replenishment']:,.2f} CNY, leverage "
                f"{res['leverage_before_replenishment']} / {lim}, which refuses every new loan; the demo "
                f"replenished it with {res['replenished']:,.2f} CNY so that banks can enrol loans again.",
            )
        )  # fmt: skip
    lev = res["leverage"] if res["leverage"] is not None else "—"
    state = ("可受理新贷款", "open to new loans") if not res["over_leverage"] else (
        "已达放大上限，暂停受理新贷款", "at its leverage limit: new loans are refused")  # fmt: skip
    out.append(
        (
            f"资金池现余额 {res['balance']:,.2f} 元，在保余额 {res['enrolled_balance']:,.2f} 元，"
            f"放大倍数 {lev} / {lim}，{state[0]}；账簿核对{'通过' if res['audit_ok'] else '未通过'}。",
            f"The pool now holds {res['balance']:,.2f} CNY against {res['enrolled_balance']:,.2f} CNY "
            f"enrolled, leverage {lev} / {lim}: {state[1]}; the ledger audit "
            f"{'passed' if res['audit_ok'] else 'FAILED'}.",
        )
    )  # fmt: skip
    files = "、".join(res["files"].values())
    out.append((f"报告已写入：{files}。", f"Reports written: {', '.join(res['files'].values())}."))
    return out
