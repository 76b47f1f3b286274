"""The demo marketplace: every role finds its pages populated after ``make demo``.

Everything goes through the services, as named people: the synthetic region's products enter
the catalogue (maker and checker), each gains eligibility rules in a second version (same two
steps), firms' needs are posted (the demo firm's by its own user, with a consent to the demo
bank; the others as a surveyed need, the government's import action), and each bank's demo
officer takes, reviews, declines with a reason, approves and disburses — dated over the past
weeks so the funnel has months, working days and a service level to measure. Draws are seeded:
the same region and seed give the same marketplace. Decisions are drawn from the synthetic
region's true approval probability (:mod:`kejin.synth.market`); the demo bank pushes three
first-loan prospects with a named contact.

The bank actions need an officer per bank; the demo makes one synthetic account per bank
(``demo_officer_<bank>``, the demo exemption, a random password nobody is told) — the demo
bank's own officer ``demo_bank`` acts for its bank.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kejin.access.accounts import create_user
from kejin.access.audit import utcnow
from kejin.access.rules import Principal
from kejin.access.service import SYSTEM, principal_of
from kejin.access.tables import User
from kejin.lending.tables import Institution, Loan
from kejin.matching import events, products, prospects, query, service
from kejin.matching.products import ProductTerms
from kejin.matching.service import NeedIn
from kejin.matching.tables import EventInvite, Need
from kejin.registry.tables import Enterprise
from kejin.synth import market
from kejin.vocab import DECLINE_REASONS, NO_DEAL_REASONS

#: Eligibility rules given to the synthetic products by their guarantee kind (the first kind
#: of the version): what a bank of the region would plausibly ask for such a loan.
RULES = {
    "credit": ["whitelisted", "not dishonest", "years_in_business >= 2"],
    "ip_pledge": ["invention_patents >= 1", "not dishonest"],
    "guarantee": ["not dishonest", "not abnormal_operation"],
    "mortgage": ["revenue >= 5000000", "not dishonest"],
}
PURPOSES = ("研发投入", "原材料采购", "扩大产能", "设备更新", "流动资金周转", "技术改造")
TERMS = (6, 12, 12, 24, 36)
OFFERED = (["credit"], ["ip_pledge"], ["guarantee"], ["credit", "ip_pledge"], ["mortgage"])


def _officer(s: Session, bank: str, demo_bank: Principal) -> Principal:
    if bank == demo_bank.institution_id:
        return demo_bank
    name = f"demo_officer_{bank}".replace("-", "_").lower()
    u = s.scalar(select(User).where(User.username == name))
    if u is None:
        u = create_user(
            s,
            SYSTEM,
            username=name,
            role="bank_officer",
            password=secrets.token_urlsafe(16),
            display_name=f"演示·{bank}客户经理",
            institution_id=bank,
            exemption="demo",
        )
    return principal_of(u, via="cli")


def _add_rules(s: Session, maker: Principal, checker: Principal, now: datetime) -> int:
    """A second version with eligibility rules for each live product that has none."""
    n = 0
    for v in products.live(s):
        if v.eligibility.strip() or v.guarantee_kinds[0] not in RULES:
            continue
        terms = products.view(v)
        for k in ("version_id", "version", "state", "made_by", "approved_by", "approved_at"):
            terms.pop(k)
        terms["eligibility"] = RULES[v.guarantee_kinds[0]]
        d = products.draft(s, maker, ProductTerms(**terms), submit=True, now=now)
        products.approve(s, checker, d.id, now=now)
        n += 1
    return n


def fill(
    s: Session,
    maker: Principal,
    checker: Principal,
    firm_user: Principal,
    bank_user: Principal,
    *,
    needs: int = 80,
    seed: int = 7,
    now: datetime | None = None,
    investor: Principal | None = None,
) -> dict[str, Any]:
    """Fill the marketplace (once: a second run with needs already present changes nothing)."""
    now = now or utcnow()
    if s.scalar(select(Need.id).limit(1)) is not None:
        return {"skipped": "the marketplace already has needs"}
    start = now - timedelta(days=80)
    adopted = products.adopt_registry(s, maker, checker, now=now)
    ruled = _add_rules(s, maker, checker, now)
    rng = np.random.default_rng(seed)
    firms = list(
        s.scalars(
            select(Enterprise.uscc)
            .where(Enterprise.in_good_standing(), Enterprise.uscc != firm_user.uscc)
            .order_by(Enterprise.uscc)
        )
    )
    chosen = [firms[i] for i in rng.choice(len(firms), min(needs, len(firms)), replace=False)]
    posted: list[Need] = []
    for i, uscc in enumerate(chosen):
        at = start + timedelta(days=int(rng.integers(0, 55)), hours=int(rng.integers(1, 8)))
        n = service.post(
            s,
            maker,
            uscc,
            NeedIn(
                amount=Decimal(int(rng.integers(2, 60)) * 100_000),
                term_months=TERMS[int(rng.integers(0, len(TERMS)))],
                purpose=PURPOSES[i % len(PURPOSES)],
                guarantee_offered=OFFERED[int(rng.integers(0, len(OFFERED)))],
                urgency="urgent" if rng.random() < 0.2 else "normal",
            ),
            now=at,
            action="match.need.import",
        )
        posted.append(n)
    # Which live product fits each need best (the same kernel as the pages), then who acts.
    # Which banks' loan products fit each need (the same kernel as the pages); one of them,
    # drawn, takes it — the synthetic banks' products are alike, so "the best" would always be
    # the first bank's.
    banks = set(s.scalars(select(Institution.id).where(Institution.kind == "bank")))
    prods = query.products_frame(s).filter(
        (pl.col("kind") == "loan") & pl.col("institution_id").is_in(list(banks))
    )
    pairs, _, _ = query._rank_frame(s, posted, prods, now.date())
    options: dict[int, list[tuple[str, str]]] = {}
    for r in pairs.filter(pl.col("eligible")).sort("need_id", "product_id").iter_rows(named=True):
        options.setdefault(r["need_id"], []).append((r["product_id"], r["institution_id"]))
    fit = {k: v[int(rng.integers(0, len(v)))] for k, v in options.items()}
    truly = _true_approval(s, posted, fit, prods, now, seed)
    reasons = [r for r in DECLINE_REASONS if r != "other"]
    counts = dict.fromkeys(("taken", "first_review", "declined", "approved", "disbursed"), 0)
    for n in posted:
        if n.id not in fit or rng.random() < 0.25:
            continue  # nobody took it: the government's overdue list
        product_id, bank = fit[n.id]
        officer = _officer(s, bank, bank_user)
        assert n.published_at is not None
        at = n.published_at + timedelta(days=int(rng.integers(0, 4)), hours=2)
        service.take(s, officer, n.id, product_id=product_id, now=at)
        counts["taken"] += 1
        roll = rng.random()
        if roll < 0.15:
            continue
        at += timedelta(days=int(rng.integers(1, 4)))
        if roll < 0.3:
            service.review(s, officer, n.id, note="材料齐全", now=at)
            counts["first_review"] += 1
            continue
        if not truly[n.id]:
            reason = reasons[int(rng.integers(0, len(reasons)))]
            service.decide(s, officer, n.id, approve=False, reason=reason, now=at)
            counts["declined"] += 1
            continue
        service.review(s, officer, n.id, now=at)
        at += timedelta(days=int(rng.integers(1, 6)))
        service.decide(s, officer, n.id, approve=True, now=at)
        counts["approved"] += 1
        if rng.random() < 0.75:
            at += timedelta(days=int(rng.integers(1, 5)))
            contract = s.scalar(
                select(Loan.contract_no)
                .where(Loan.uscc == n.uscc, Loan.institution_id == bank)
                .limit(1)
            )
            service.disburse(s, officer, n.id, amount=n.amount, contract_no=contract, now=at)
            counts["disbursed"] += 1
    mine = _firm_needs(s, firm_user, bank_user, now)
    pushed = _push_prospects(s, bank_user, now)
    held = fill_events(s, maker, firm_user, bank_user, investor, now=now, seed=seed)
    return {
        "events": held,
        "prospects_pushed": pushed,
        "adopted": len(adopted),
        "ruled": ruled,
        "posted": len(posted) + len(mine),
        **counts,
        "demo_firm_needs": mine,
    }


#: The demo bank's named contact for its first-loan prospects (a demo person, not a real one).
DEMO_CONTACT = ("演示客户经理 王敏", "0518-85800000")


def _push_prospects(s: Session, bank_user: Principal, now: datetime, n: int = 3) -> int:
    """首贷培育: the demo bank pushes its first ``n`` prospects with a named contact."""
    rows = query.bank_prospects(s, bank_user, now)
    for r in rows[:n]:
        prospects.push(s, bank_user, r["uscc"], *DEMO_CONTACT, r["products"][0], now=now)
    return min(n, len(rows))


#: The approval share of decided needs when the region has no synthetic truth.
APPROVE_WITHOUT_TRUTH = 0.64


def _true_approval(
    s: Session,
    posted: list[Need],
    fit: dict[int, tuple[str, str]],
    prods: pl.DataFrame,
    now: datetime,
    seed: int,
) -> dict[int, bool]:
    """Whether the bank truly approves each need under the product it took it for.

    Drawn from the synthetic region's true approval probability (:mod:`kejin.synth.market`:
    the firm's true default risk, the product's guarantee kind, the amount against what the
    firm can carry), so the funnel's approvals and declines carry the latent truth; a firm
    without synthetic truth is approved with :data:`APPROVE_WITHOUT_TRUTH`.
    """
    conn = s.connection()
    truth = market.truth_frame(conn)
    usccs = sorted({n.uscc for n in posted})
    firm = query.firms(conn, usccs, now.date()).select("uscc", "revenue", "invention_patents")
    kinds = prods.select(
        "product_id", pl.col("guarantee_kinds").list.first().alias("guarantee_kind")
    )
    pairs = (
        pl.DataFrame(
            [(n.id, n.uscc, float(n.amount), fit[n.id][0]) for n in posted if n.id in fit],
            schema={
                "need_id": pl.Int64,
                "uscc": pl.String,
                "amount": pl.Float64,
                "product_id": pl.String,
            },
            orient="row",
        )
        .join(kinds, on="product_id", how="left")
        .join(firm, on="uscc", how="left")
        .join(truth, on="uscc", how="left")
    )
    judged = market.true_approval(pairs.filter(pl.col("pd_annual").is_not_null()), seed)
    rng = np.random.default_rng(seed + 1)
    out = {n.id: bool(rng.random() < APPROVE_WITHOUT_TRUTH) for n in posted}
    out.update(dict(zip(judged["need_id"], judged["approved"], strict=True)))
    return out


def _firm_needs(s: Session, firm_user: Principal, bank_user: Principal, now: datetime) -> list[int]:
    """The demo firm's own needs, shared with the demo bank: one the bank holds and has
    reviewed (progress to follow), one open in the demo bank's queue."""
    assert firm_user.uscc is not None and bank_user.institution_id is not None
    bank_products = [
        v.product_id
        for v in products.live(s, bank_user.institution_id)
        if set(v.guarantee_kinds) & {"credit", "ip_pledge"}
    ]
    out = []
    for days, amount, purpose in (
        (9, "3000000", "研发投入与原材料采购"),
        (1, "1500000", "设备更新"),
    ):
        n = service.post(
            s,
            firm_user,
            firm_user.uscc,
            NeedIn(
                amount=Decimal(amount),
                term_months=12,
                purpose=purpose,
                guarantee_offered=["credit", "ip_pledge"],
            ),
            now=now - timedelta(days=days),
        )
        service.share(
            s, firm_user, n.id, [bank_user.institution_id], now=now - timedelta(days=days)
        )
        out.append(n.id)
    if bank_products:
        first = out[0]
        at = now - timedelta(days=2)
        service.take(s, bank_user, first, product_id=bank_products[0], now=at)
        service.review(
            s, bank_user, first, note="已收到知识产权评估报告", now=at + timedelta(days=1)
        )
    return out


#: How many invited firms meet an institution at the demo's past event, and of those intents
#: the share concluded each way (the rest: no deal with a drawn reason, or still open).
EVENT_INTENTS = 14
#: About how many firms a meeting invites (the filter's points floor is set to keep near it).
MEETING_SIZE = 60


def fill_events(
    s: Session,
    gov: Principal,
    firm_user: Principal,
    bank_user: Principal,
    investor: Principal | None = None,
    *,
    now: datetime,
    seed: int = 7,
) -> dict[str, Any]:
    """One past matchmaking event with invitees, sign-ups, intents and outcomes, and one
    upcoming event the demo firm is invited to and the demo bank may still sign up for.

    Both are invited by whitelist filter (the chain with the most core and selected members,
    so the list stays a meeting's size); dates are set by acting "then" (``now`` of each call)
    as the services require: invitations before the event, intents and outcomes after it.
    """
    from kejin.matching.events import EventIn, IntentIn, InviteFilter
    from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

    vid = s.scalar(select(WhitelistVersion.id).order_by(WhitelistVersion.id.desc()).limit(1))
    if vid is None:
        return {"skipped": "no whitelist version"}
    tiers = ["core", "selected"]
    chains = s.execute(
        select(WhitelistEntry.industry_chain, func.count())
        .where(
            WhitelistEntry.version_id == vid,
            WhitelistEntry.status == "member",
            WhitelistEntry.tier.in_(tiers),
            WhitelistEntry.industry_chain.is_not(None),
        )
        .group_by(WhitelistEntry.industry_chain)
        .order_by(func.count().desc(), WhitelistEntry.industry_chain)
    ).all()
    if not chains:
        return {"skipped": "no whitelist members in a chain"}
    chain = chains[0][0]
    rng = np.random.default_rng(seed + 1)
    before, held_on = now - timedelta(days=30), (now - timedelta(days=16)).date()
    past = events.create(
        s,
        gov,
        EventIn("科技型企业银企对接会（第一期）", "bank_firm", held_on, "连云港市科技金融服务中心",
                chain, "首贷、信用贷与知识产权质押"),
        now=before,
    )  # fmt: skip
    flt = InviteFilter(tiers=tiers, chains=[chain])
    pts = events.candidates(s, flt)[1]["points"].drop_nulls().sort(descending=True)
    if pts.len() > MEETING_SIZE:  # a meeting's size: the chain's highest points
        flt.points_min = float(pts[MEETING_SIZE - 1])
    events.invite(s, gov, past.id, flt, now=before)
    invited = list(
        s.scalars(
            select(EventInvite.uscc)
            .where(EventInvite.event_id == past.id)
            .order_by(EventInvite.uscc)
        )
    )
    banks = [
        i
        for i in s.scalars(
            select(Institution.id).where(Institution.kind == "bank").order_by(Institution.id)
        )
        if i != bank_user.institution_id
    ][:2]
    funds = [investor.institution_id] if investor and investor.institution_id else list(
        s.scalars(
            select(Institution.id).where(Institution.kind.in_(events.INVESTOR_KINDS))
            .order_by(Institution.id).limit(1)
        )
    )  # fmt: skip
    if firm_user.uscc in invited:
        events.reply(s, firm_user, past.id, True, now=before)
    events.signup(s, bank_user, past.id, now=before)
    for b in banks:
        events.signup(s, _officer(s, b, bank_user), past.id, now=before)
    for f in funds:  # the fund's own investor signs up when it has an account
        if investor is not None:
            events.signup(s, investor, past.id, now=before)
        else:
            events.signup(s, gov, past.id, f, now=before)
    after = datetime.combine(held_on, datetime.min.time()) + timedelta(hours=16)
    attendees = [bank_user.institution_id, *banks, *funds]
    counts = {"intents": 0, "concluded": 0, "no_deal": 0}
    reasons = list(NO_DEAL_REASONS)
    for k, i in enumerate(
        rng.choice(len(invited), min(EVENT_INTENTS, len(invited)), replace=False)
    ):
        inst = attendees[k % len(attendees)]
        fund = inst in funds
        kind = "equity" if fund else "loan"
        partner = None
        if fund and k % 3 == 0:  # 投贷联动: the fund's equity with the demo bank's loan
            kind, partner = "loan_equity", bank_user.institution_id
        amount = Decimal(int(rng.integers(5, 80)) * 100_000) * (4 if fund else 1)
        actor = bank_user if inst == bank_user.institution_id else (
            (investor or gov) if fund else _officer(s, inst, bank_user))  # fmt: skip
        intent = events.record_intent(
            s, actor, past.id, IntentIn(invited[int(i)], inst if actor is gov else None,
                                        kind, amount, partner), now=after)  # fmt: skip
        counts["intents"] += 1
        draw = rng.random()
        at = after + timedelta(days=int(rng.integers(3, 14)))
        if draw < 0.55:
            done = "invested" if fund else ("disbursed" if draw < 0.35 else "signed")
            share = Decimal(int(rng.integers(6, 11))) / 10
            events.record_outcome(
                s, actor, intent.id, done, (amount * share).quantize(Decimal("1")), now=at
            )
            counts["concluded"] += 1
        elif draw < 0.85:
            why = reasons[int(rng.integers(0, len(reasons) - 1))]
            events.record_outcome(s, actor, intent.id, "none", reason=why, now=at)
            counts["no_deal"] += 1
    # The upcoming event: invited now, the demo firm among the invitees if it is a member.
    soon = (now + timedelta(days=12)).date()
    nxt = events.create(
        s,
        gov,
        EventIn("投贷联动专场路演", "invest_loan", soon, "连云港高新区创新创业中心", None,
                "成长期科技企业股权融资与投贷联动"),
        now=now,
    )  # fmt: skip
    mine = s.scalar(
        select(WhitelistEntry).where(
            WhitelistEntry.version_id == vid, WhitelistEntry.uscc == firm_user.uscc
        )
    )
    flt = InviteFilter(tiers=tiers, stages=["growth"], chains=[chain])
    if mine is not None and mine.status == "member":
        own = InviteFilter(tiers=[mine.tier] if mine.tier else [], stages=[mine.stage],
                           chains=[mine.industry_chain] if mine.industry_chain else [])  # fmt: skip
        flt = own if events.candidates(s, own)[1].height else flt
    if events.candidates(s, flt)[1].height == 0:
        flt = InviteFilter(tiers=tiers)
    events.invite(s, gov, nxt.id, flt, now=now)
    for f in funds:
        if investor is None:
            events.signup(s, gov, nxt.id, f, now=now)
    for b in banks[:1]:
        events.signup(s, _officer(s, b, bank_user), nxt.id, now=now)
    direct = _investor_intent(s, firm_user, bank_user, investor, now)
    return {"past": past.id, "upcoming": nxt.id, "invited": len(invited), **counts,
            "investor_intents": direct}  # fmt: skip


def _investor_intent(
    s: Session,
    firm_user: Principal,
    bank_user: Principal,
    investor: Principal | None,
    now: datetime,
) -> int:
    """The demo firm consents to the demo investor's fund (profile, for product matching) and
    the investor registers a 投贷联动 intent with the demo bank for the firm's open need."""
    from kejin.access.service import grant_consent
    from kejin.matching.events import OPEN_NEEDS, IntentIn

    if investor is None or investor.institution_id is None or firm_user.uscc is None:
        return 0
    grant_consent(s, firm_user, uscc=firm_user.uscc, institution_id=investor.institution_id,
                  purpose="product_matching", scope="profile",
                  expires_at=now + timedelta(days=365))  # fmt: skip
    need = s.scalar(
        select(Need.id)
        .where(Need.uscc == firm_user.uscc, Need.state.in_(OPEN_NEEDS))
        .order_by(Need.id)
        .limit(1)
    )
    i = IntentIn(firm_user.uscc, None, "loan_equity", Decimal("10000000"), bank_user.institution_id)
    events.register_intent(s, investor, i, need, now=now)
    return 1
