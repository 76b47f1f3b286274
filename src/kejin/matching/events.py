"""Matchmaking events (银企对接会 / 路演 / 投贷联动专场): the government invites, institutions sign
up, intents and outcomes are recorded (seed 001 §11, 003 常态化银企对接, 002 Wuhan 投贷联盟).

Why each rule is here:

* The invitation list is chosen by the whitelist's own fields (tier, chain, stage, points) on
  its latest version — the same frame the whitelist pushes to banks, not a second filter
  language — and frozen on the event with the filter and the version that made it, so the list
  a meeting was held with stays readable when the whitelist moves on. An event is invited once,
  and only before it is held.
* A bank signs up its own institution; the government may sign up any bank or investor
  institution (an investor without an account of its own still attends).
* An intent names a firm that was invited and an institution that signed up, on or after the
  event's date; its kind must suit the institution (a loan from a bank, equity from an
  investor, 投贷联动 pairing one of each). A bank records intents and outcomes for itself only.
* Every change and its audit event are one transaction; a refusal writes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import polars as pl
from sqlalchemy import false, func, select
from sqlalchemy.orm import Session

import kejin.matching.rules  # noqa: F401  (registers the rules)
from kejin.access.audit import utcnow
from kejin.access.rules import Forbidden, Principal, active_consents, authorize
from kejin.access.service import log
from kejin.access.tables import INSTITUTION_ROLES, Consent
from kejin.errors import ConflictError, NotFoundError, Problem, ValidationError
from kejin.frames import read_frame
from kejin.lending.tables import Institution
from kejin.matching.tables import EventIntent, EventInvite, EventSignup, MatchEvent, Need
from kejin.registry.tables import Enterprise
from kejin.vocab import (
    EVENT_KINDS,
    INDUSTRY_CHAINS,
    INTENT_KINDS,
    INTENT_OUTCOMES,
    NO_DEAL_REASONS,
    STAGES,
)
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

#: Institution kinds that provide equity (the investor side of an event).
INVESTOR_KINDS = ("vc_fund",)
#: Institution kinds that may sign up for an event.
ATTENDING_KINDS = ("bank", *INVESTOR_KINDS)
#: Whitelist tiers (ids fixed by :class:`kejin.whitelist.rules.Tier`).
TIER_IDS = ("core", "selected", "base")
#: Which outcomes suit which intent kinds (a fund does not disburse, a bank does not invest).
OUTCOMES_FOR: dict[str, tuple[str, ...]] = {
    "loan": ("signed", "disbursed", "none"),
    "equity": ("signed", "invested", "none"),
    "loan_equity": ("signed", "disbursed", "invested", "none"),
}
MAX_AMOUNT = Decimal("100000000000")


def _bad(fld: str, value: Any, zh: str, en: str) -> Problem:
    return Problem(zh, en, field=fld, value=value)


# ---------------------------------------------------------------- creating an event


@dataclass
class EventIn:
    """What the government states about an event."""

    title: str
    kind: str
    held_on: date
    place: str
    chain: str | None = None
    theme: str | None = None


def event_problems(e: EventIn, today: date) -> list[Problem]:
    out: list[Problem] = []
    if not e.title.strip() or len(e.title.strip()) > 200:
        out.append(_bad("title", e.title, "须填写活动名称（200字以内）", "give a title (≤ 200)"))
    if e.kind not in EVENT_KINDS:
        out.append(_bad("kind", e.kind, "活动类型不在词表中", "event kind not in the vocabulary"))
    if e.held_on < today:
        out.append(
            _bad(
                "held_on",
                f"{e.held_on:%Y-%m-%d}",
                "举办日期已过，不能新建",
                "the date has passed; an event is created before it is held",
            )
        )
    if not e.place.strip() or len(e.place.strip()) > 200:
        out.append(_bad("place", e.place, "须填写地点（200字以内）", "give a place (≤ 200)"))
    if e.chain and e.chain not in INDUSTRY_CHAINS:
        out.append(_bad("chain", e.chain, "产业链不在词表中", "chain not in the vocabulary"))
    if e.theme and len(e.theme) > 200:
        out.append(_bad("theme", e.theme, "主题过长（200字以内）", "theme too long (≤ 200)"))
    return out


def create(s: Session, p: Principal, e: EventIn, now: datetime | None = None) -> MatchEvent:
    """A new event (no invitations yet)."""
    authorize(s, p, "match.event.create")
    now = now or utcnow()
    bad = event_problems(e, now.date())
    if bad:
        raise ValidationError("对接活动信息有误，未保存", "invalid event; nothing was saved", bad)
    ev = MatchEvent(
        title=e.title.strip(),
        kind=e.kind,
        held_on=e.held_on,
        place=e.place.strip(),
        chain=e.chain or None,
        theme=(e.theme or "").strip() or None,
        created_by=p.username,
        created_at=now,
    )
    s.add(ev)
    s.flush()
    log(
        s,
        p,
        "match.event.create",
        "match_event",
        ev.id,
        after=asdict(e) | {"held_on": str(e.held_on)},
    )
    return ev


def get(s: Session, event_id: int) -> MatchEvent:
    ev = s.get(MatchEvent, event_id)
    if ev is None:
        raise NotFoundError(
            "对接活动不存在", "no such event", [Problem("", "", field="event_id", value=event_id)]
        )
    return ev


def _not_past(ev: MatchEvent, today: date, what_zh: str, what_en: str) -> None:
    if ev.held_on < today:
        raise ConflictError(
            f"活动已于 {ev.held_on:%Y-%m-%d} 举办，不能再{what_zh}",
            f"the event was held on {ev.held_on:%Y-%m-%d}; it can no longer {what_en}",
            [Problem("活动已举办", "event already held", field="held_on", value=str(ev.held_on))],
        )


# ---------------------------------------------------------------- inviting by whitelist filter


@dataclass
class InviteFilter:
    """Which whitelist members to invite: every set condition must hold (empty = any)."""

    tiers: list[str] = field(default_factory=list)
    chains: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    points_min: float | None = None
    points_max: float | None = None

    def problems(self) -> list[Problem]:
        out = []
        for fld, values, vocab in (
            ("tiers", self.tiers, TIER_IDS),
            ("chains", self.chains, INDUSTRY_CHAINS),
            ("stages", self.stages, STAGES),
        ):
            out += [
                _bad(fld, v, "取值不在词表中", "value not in the vocabulary")
                for v in values
                if v not in vocab
            ]
        if (
            self.points_min is not None
            and self.points_max is not None
            and self.points_min > self.points_max
        ):
            out.append(
                _bad(
                    "points_min",
                    self.points_min,
                    "积分下限高于上限",
                    "the lowest points are above the highest",
                )
            )
        return out

    def expr(self) -> pl.Expr:
        """The filter as one Polars expression on the whitelist entries frame."""
        cond = pl.col("status") == "member"
        if self.tiers:
            cond &= pl.col("tier").is_in(self.tiers)
        if self.chains:
            cond &= pl.col("industry_chain").is_in(self.chains)
        if self.stages:
            cond &= pl.col("stage").is_in(self.stages)
        if self.points_min is not None:
            cond &= (pl.col("points") >= self.points_min).fill_null(False)
        if self.points_max is not None:
            cond &= (pl.col("points") <= self.points_max).fill_null(False)
        return cond


def candidates(s: Session, f: InviteFilter) -> tuple[int | None, pl.DataFrame]:
    """The latest whitelist version and its members that pass ``f`` (uscc, name, tier, …)."""
    vid = s.scalar(select(func.max(WhitelistVersion.id)))
    cols = ["uscc", "name", "tier", "industry_chain", "stage", "points", "status"]
    if vid is None:
        return None, pl.DataFrame()
    frame = read_frame(
        s.connection(), WhitelistEntry.__table__, cols, where=f"version_id = {int(vid)}"
    )
    return vid, frame.filter(f.expr()).sort("uscc")


def invite(
    s: Session, p: Principal, event_id: int, f: InviteFilter, now: datetime | None = None
) -> MatchEvent:
    """Invite the whitelist members that pass ``f``; the list is frozen with the filter."""
    authorize(s, p, "match.event.invite")
    now = now or utcnow()
    ev = get(s, event_id)
    _not_past(ev, now.date(), "发出邀请", "be invited to")
    if ev.invited_at is not None:
        raise ConflictError(
            f"邀请名单已于 {ev.invited_at:%Y-%m-%d} 确定，不能重复邀请",
            f"the invitation list was fixed on {ev.invited_at:%Y-%m-%d}; it is not redone",
            [Problem("已邀请", "already invited", field="event_id", value=event_id)],
        )
    bad = f.problems()
    if bad:
        raise ValidationError("邀请条件有误，未邀请", "invalid filter; nobody was invited", bad)
    vid, chosen = candidates(s, f)
    if vid is None or chosen.height == 0:
        raise ValidationError(
            "没有白名单企业符合邀请条件" if vid else "尚无白名单版本",
            "no whitelist member passes the filter" if vid else "no whitelist version yet",
            [Problem("名单为空", "empty list", field="filter", value=asdict(f))],
        )
    s.add_all(
        EventInvite(
            event_id=ev.id, uscc=r["uscc"], tier=r["tier"], points=r["points"], reply="pending"
        )
        for r in chosen.iter_rows(named=True)
    )
    ev.invite_filter = asdict(f)
    ev.whitelist_version = vid
    ev.invited_by, ev.invited_at = p.username, now
    s.flush()
    log(
        s,
        p,
        "match.event.invite",
        "match_event",
        ev.id,
        detail={"filter": asdict(f), "whitelist_version": vid, "firms": chosen.height},
    )
    return ev


def reply(
    s: Session, p: Principal, event_id: int, accept: bool, now: datetime | None = None
) -> EventInvite:
    """The firm accepts or declines its own invitation (until the day of the event)."""
    authorize(s, p, "match.event.reply")
    now = now or utcnow()
    ev = get(s, event_id)
    inv = s.get(EventInvite, (event_id, p.uscc)) if p.uscc else None
    if inv is None:
        raise Forbidden("本企业未受邀参加该活动", "your firm is not invited to this event")
    _not_past(ev, now.date(), "回复邀请", "be answered")
    inv.reply = "accepted" if accept else "declined"
    inv.replied_by, inv.replied_at = p.username, now
    log(
        s, p, "match.event.reply", "match_event", ev.id, detail={"uscc": p.uscc, "reply": inv.reply}
    )
    return inv


# ---------------------------------------------------------------- sign-ups


def _institution(s: Session, institution_id: str, fld: str = "institution_id") -> Institution:
    inst = s.get(Institution, institution_id)
    if inst is None:
        raise ValidationError(
            "机构不存在", "no such institution", [_bad(fld, institution_id, "不存在", "not found")]
        )
    return inst


def _acting_for(p: Principal, institution_id: str | None) -> str:
    """The institution a caller acts for: a bank officer or an investor only ever its own."""
    if p.role in INSTITUTION_ROLES:
        if p.institution_id is None:
            raise Forbidden("账户未关联机构", "the account is not linked to an institution")
        if institution_id and institution_id != p.institution_id:
            raise Forbidden(
                "只能代表本机构操作",
                "you act for your own institution only",
                [Problem("", "", field="institution_id", value=institution_id)],
            )
        return p.institution_id
    if not institution_id:
        raise ValidationError(
            "须指明机构",
            "name the institution",
            [_bad("institution_id", "", "未填写", "missing")],
        )
    return institution_id


def signup(
    s: Session,
    p: Principal,
    event_id: int,
    institution_id: str | None = None,
    now: datetime | None = None,
) -> EventSignup:
    """Sign a bank or investor institution up for the event (once, before it is held)."""
    authorize(s, p, "match.event.signup")
    now = now or utcnow()
    inst_id = _acting_for(p, institution_id)
    ev = get(s, event_id)
    inst = _institution(s, inst_id)
    if inst.kind not in ATTENDING_KINDS:
        raise ValidationError(
            "只有银行和投资机构可以报名",
            "only banks and investors sign up",
            [_bad("institution_id", inst_id, "机构类型不适用", "institution kind not eligible")],
        )
    _not_past(ev, now.date(), "报名", "be signed up for")
    if s.get(EventSignup, (event_id, inst_id)) is not None:
        raise ConflictError(
            "该机构已报名", "the institution has signed up already",
            [Problem("已报名", "already signed up", field="institution_id", value=inst_id)],
        )  # fmt: skip
    row = EventSignup(
        event_id=event_id, institution_id=inst_id, signed_by=p.username, signed_at=now
    )
    s.add(row)
    s.flush()
    log(s, p, "match.event.signup", "match_event", event_id, detail={"institution": inst_id})
    return row


# ---------------------------------------------------------------- intents and outcomes


@dataclass
class IntentIn:
    uscc: str
    institution_id: str | None
    kind: str
    amount: Decimal
    partner_id: str | None = None


def record_intent(
    s: Session, p: Principal, event_id: int, i: IntentIn, now: datetime | None = None
) -> EventIntent:
    """Record an intent met at the event (on or after its date)."""
    authorize(s, p, "match.event.intent")
    now = now or utcnow()
    inst_id = _acting_for(p, i.institution_id)
    ev = get(s, event_id)
    if ev.held_on > now.date():
        raise ConflictError(
            f"活动将于 {ev.held_on:%Y-%m-%d} 举办，届时及之后才能登记意向",
            f"the event is on {ev.held_on:%Y-%m-%d}; intents are recorded from that day",
            [Problem("活动未举办", "not held yet", field="held_on", value=str(ev.held_on))],
        )
    bad: list[Problem] = []
    if i.kind not in INTENT_KINDS:
        bad.append(_bad("kind", i.kind, "意向类型不在词表中", "intent kind not in the vocabulary"))
    if i.amount <= 0 or i.amount > MAX_AMOUNT:
        bad.append(_bad("amount", i.amount, "意向金额须大于0", "the amount must be positive"))
    if s.get(EventInvite, (event_id, i.uscc)) is None:
        bad.append(_bad("uscc", i.uscc, "该企业未受邀参加本活动", "the firm was not invited"))
    if s.get(EventSignup, (event_id, inst_id)) is None:
        bad.append(
            _bad("institution_id", inst_id, "该机构未报名本活动", "the institution did not sign up")
        )
    inst = s.get(Institution, inst_id)
    kind = inst.kind if inst else None
    partner = s.get(Institution, i.partner_id) if i.partner_id else None
    if i.kind == "loan" and kind != "bank":
        bad.append(_bad("kind", i.kind, "贷款意向须由银行登记", "a loan intent is a bank's"))
    if i.kind == "equity" and kind not in INVESTOR_KINDS:
        bad.append(
            _bad(
                "kind", i.kind, "股权投资意向须由投资机构登记", "an equity intent is an investor's"
            )
        )
    if i.kind == "equity" and i.partner_id:
        bad.append(
            _bad("partner_id", i.partner_id, "股权投资意向无联动机构", "equity takes no partner")
        )
    if i.kind == "loan_equity":
        sides = {kind, partner.kind if partner else None}
        if partner is None or not ("bank" in sides and sides & set(INVESTOR_KINDS)):
            bad.append(
                _bad(
                    "partner_id",
                    i.partner_id,
                    "投贷联动须一家银行与一家投资机构配对",
                    "loan plus equity pairs one bank with one investor",
                )
            )
    if i.kind == "loan" and i.partner_id:
        bad.append(
            _bad("partner_id", i.partner_id, "贷款意向无联动机构", "a loan takes no partner")
        )
    if bad:
        raise ValidationError("对接意向有误，未登记", "invalid intent; nothing was recorded", bad)
    return _store_intent(
        s, p, "match.event.intent", i, inst_id, now, event_id=event_id,
        detail={"event": event_id, "uscc": i.uscc, "institution": inst_id, "kind": i.kind},
    )  # fmt: skip


def _store_intent(
    s: Session,
    p: Principal,
    action: str,
    i: Any,
    inst_id: str,
    now: datetime,
    *,
    detail: dict[str, Any],
    event_id: int | None = None,
    need_id: int | None = None,
) -> EventIntent:
    """An intent checked by its caller (at an event, or an investor's direct one), written with
    its audit record in the caller's transaction."""
    row = EventIntent(
        event_id=event_id,
        need_id=need_id,
        uscc=i.uscc,
        institution_id=inst_id,
        partner_id=i.partner_id or None,
        kind=i.kind,
        amount=i.amount,
        recorded_by=p.username,
        recorded_at=now,
    )
    s.add(row)
    s.flush()
    log(s, p, action, "event_intent", row.id, detail=detail)
    return row


def record_outcome(
    s: Session,
    p: Principal,
    intent_id: int,
    outcome: str,
    amount: Decimal | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> EventIntent:
    """How an intent ended: signed / disbursed / invested with the amount, or none with a reason.

    A later outcome replaces an earlier one (signed, then disbursed); the audit keeps both."""
    authorize(s, p, "match.event.outcome")
    now = now or utcnow()
    row = s.get(EventIntent, intent_id)
    if row is None:
        raise NotFoundError(
            "对接意向不存在",
            "no such intent",
            [Problem("", "", field="intent_id", value=intent_id)],
        )
    _acting_for(p, row.institution_id)
    bad: list[Problem] = []
    if outcome not in INTENT_OUTCOMES:
        bad.append(_bad("outcome", outcome, "结果不在词表中", "outcome not in the vocabulary"))
    elif outcome not in OUTCOMES_FOR[row.kind]:
        bad.append(
            _bad("outcome", outcome, "结果与意向类型不符", "the outcome does not suit the kind")
        )
    if outcome == "none":
        if reason not in NO_DEAL_REASONS:
            bad.append(_bad("reason", reason, "未成交须选择原因", "a no-deal needs a reason"))
        if amount:
            bad.append(_bad("amount", amount, "未成交不填金额", "no amount with a no-deal"))
    elif amount is None or amount <= 0 or amount > MAX_AMOUNT:
        bad.append(_bad("amount", amount, "成交金额须大于0", "the amount must be positive"))
    if bad:
        raise ValidationError("对接结果有误，未登记", "invalid outcome; nothing was recorded", bad)
    before = {"outcome": row.outcome, "amount": row.outcome_amount, "reason": row.outcome_reason}
    row.outcome = outcome
    row.outcome_amount = None if outcome == "none" else amount
    row.outcome_reason = reason if outcome == "none" else None
    row.outcome_by, row.outcome_at = p.username, now
    s.flush()
    log(
        s,
        p,
        "match.event.outcome",
        "event_intent",
        row.id,
        before=before,
        after={"outcome": outcome, "amount": amount, "reason": row.outcome_reason},
    )
    return row


# ---------------------------------------------------------------- reading


def view(ev: MatchEvent, today: date) -> dict[str, Any]:
    return {
        "id": ev.id,
        "title": ev.title,
        "kind": ev.kind,
        "held_on": ev.held_on,
        "place": ev.place,
        "chain": ev.chain,
        "theme": ev.theme,
        "past": ev.held_on < today,
        "invite_filter": ev.invite_filter,
        "whitelist_version": ev.whitelist_version,
        "invited_at": ev.invited_at,
        "invited_by": ev.invited_by,
    }


def listing(s: Session, p: Principal, now: datetime | None = None) -> list[dict[str, Any]]:
    """Events newest first: the government and banks see all, a firm those it is invited to
    (with its answer); each with its counts."""
    authorize(s, p, "match.event.list")
    today = (now or utcnow()).date()
    q = select(MatchEvent).order_by(MatchEvent.held_on.desc(), MatchEvent.id.desc())
    mine: dict[int, str] = {}
    if p.role == "enterprise_user":
        mine = dict(
            s.execute(
                select(EventInvite.event_id, EventInvite.reply).where(EventInvite.uscc == p.uscc)
            ).all()
        )
        q = q.where(MatchEvent.id.in_(list(mine)))
    events = s.scalars(q).all()
    ids = [e.id for e in events]
    invited = _counts(s, EventInvite, ids)
    signed = _counts(s, EventSignup, ids)
    intents = _counts(s, EventIntent, ids)
    own: set[int] = set()
    if p.role in INSTITUTION_ROLES:
        own = set(
            s.scalars(
                select(EventSignup.event_id).where(EventSignup.institution_id == p.institution_id)
            )
        )
    log(s, p, "match.event.list", "match_event", "*", detail={"events": len(ids)})
    return [
        {
            **view(e, today),
            "invited": invited.get(e.id, 0),
            "signups": signed.get(e.id, 0),
            "intents": intents.get(e.id, 0),
            "my_reply": mine.get(e.id),
            "signed_up": e.id in own,
        }
        for e in events
    ]


def _counts(s: Session, table: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    return dict(
        s.execute(
            select(table.event_id, func.count())
            .where(table.event_id.in_(ids))
            .group_by(table.event_id)
        ).all()
    )


def detail(s: Session, p: Principal, event_id: int, now: datetime | None = None) -> dict[str, Any]:
    """One event with invitees, sign-ups, intents, outcomes and summary figures.

    A bank or an investor sees the firms that accepted (whitelist fields: name, tier, chain)
    once it signed up, and its own intents only; the government and the auditor see
    everything."""
    authorize(s, p, "match.event.read")
    today = (now or utcnow()).date()
    ev = get(s, event_id)
    bank = p.role in INSTITUTION_ROLES
    signups = [
        {
            "institution_id": r.institution_id,
            "name": name,
            "kind": kind,
            "signed_at": r.signed_at,
            "signed_by": r.signed_by,
        }
        for r, name, kind in s.execute(
            select(EventSignup, Institution.name, Institution.kind)
            .join(Institution, Institution.id == EventSignup.institution_id)
            .where(EventSignup.event_id == event_id)
            .order_by(EventSignup.signed_at)
        ).all()
    ]
    signed_up = any(r["institution_id"] == p.institution_id for r in signups)
    iq = (
        select(EventInvite, Enterprise.name, Enterprise.industry_chain)
        .join(Enterprise, Enterprise.uscc == EventInvite.uscc)
        .where(EventInvite.event_id == event_id)
        .order_by(EventInvite.uscc)
    )
    if bank:
        iq = iq.where(EventInvite.reply == "accepted" if signed_up else false())
    invitees = [
        {
            "uscc": r.uscc,
            "name": name,
            "chain": chain,
            "tier": r.tier,
            "points": r.points,
            "reply": r.reply,
            "replied_at": r.replied_at,
        }
        for r, name, chain in s.execute(iq).all()
    ]
    xq = (
        select(EventIntent, Enterprise.name)
        .join(Enterprise, Enterprise.uscc == EventIntent.uscc)
        .where(EventIntent.event_id == event_id)
        .order_by(EventIntent.id)
    )
    if bank:
        xq = xq.where(EventIntent.institution_id == p.institution_id)
    intents = [
        {
            "id": r.id,
            "uscc": r.uscc,
            "firm": name,
            "institution_id": r.institution_id,
            "partner_id": r.partner_id,
            "kind": r.kind,
            "amount": r.amount,
            "recorded_by": r.recorded_by,
            "recorded_at": r.recorded_at,
            "outcome": r.outcome,
            "outcome_amount": r.outcome_amount,
            "outcome_reason": r.outcome_reason,
            "outcome_at": r.outcome_at,
        }
        for r, name in s.execute(xq).all()
    ]
    log(
        s,
        p,
        "match.event.read",
        "match_event",
        event_id,
        detail={"invitees": len(invitees), "intents": len(intents)},
    )
    return {
        **view(ev, today),
        "invitees": invitees,
        "signups": signups,
        "intents": intents,
        "summary": summary(invitees, signups, intents),
        "signed_up": signed_up,
    }


def summary(
    invitees: list[dict[str, Any]], signups: list[dict[str, Any]], intents: list[dict[str, Any]]
) -> dict[str, Any]:
    """The event's figures: who came, what was meant, what was concluded."""
    zero = Decimal("0")

    def total(rows: list[dict[str, Any]], key: str) -> Decimal:
        return sum((r[key] or zero for r in rows), zero)

    concluded = [r for r in intents if r["outcome"] in ("signed", "disbursed", "invested")]
    return {
        "invited": len(invitees),
        "accepted": sum(r["reply"] == "accepted" for r in invitees),
        "declined": sum(r["reply"] == "declined" for r in invitees),
        "banks": sum(r["kind"] == "bank" for r in signups),
        "investors": sum(r["kind"] in INVESTOR_KINDS for r in signups),
        "intents": len(intents),
        "intent_amount": total(intents, "amount"),
        "firms_with_intent": len({r["uscc"] for r in intents}),
        "concluded": len(concluded),
        "signed_amount": total([r for r in intents if r["outcome"] == "signed"], "outcome_amount"),
        "disbursed_amount": total(
            [r for r in intents if r["outcome"] == "disbursed"], "outcome_amount"
        ),
        "invested_amount": total(
            [r for r in intents if r["outcome"] == "invested"], "outcome_amount"
        ),
        "no_deal": sum(r["outcome"] == "none" for r in intents),
        "open": sum(r["outcome"] is None for r in intents),
    }


# ---------------------------------------------------------------- investors (outside events)

#: An investor's intents: equity, or 投贷联动 with a partner bank.
DIRECT_KINDS = ("equity", "loan_equity")
#: Needs an investor may name (still open to financing).
OPEN_NEEDS = ("published", "taken", "first_review")


def _investor(s: Session, p: Principal) -> Institution:
    inst = s.get(Institution, p.institution_id) if p.institution_id else None
    if p.role != "investor" or inst is None or inst.kind not in INVESTOR_KINDS:
        raise Forbidden("只有投资机构用户可以登记", "only an investor registers this")
    return inst


def consented_firms(s: Session, p: Principal, now: datetime | None = None) -> list[dict[str, Any]]:
    """The firms with a live consent to the investor's institution: their whitelist fields, the
    consent, and their open needs. Nothing beyond that without a consent (there is none here)."""
    authorize(s, p, "match.intent.list")
    now = now or utcnow()
    inst = _investor(s, p)
    rows = s.execute(
        select(Enterprise.uscc, Enterprise.name, Enterprise.industry_chain, Enterprise.stage)
        .where(Enterprise.uscc.in_(active_consents(inst.id, now)))
        .order_by(Enterprise.uscc)
    ).all()
    usccs = [r.uscc for r in rows]
    vid = s.scalar(select(func.max(WhitelistVersion.id)))
    tiers = dict(
        s.execute(
            select(WhitelistEntry.uscc, WhitelistEntry.tier).where(
                WhitelistEntry.version_id == vid,
                WhitelistEntry.status == "member",
                WhitelistEntry.uscc.in_(usccs),
            )
        ).all()
    ) if vid and usccs else {}  # fmt: skip
    needs: dict[str, list[dict[str, Any]]] = {}
    for n in s.scalars(
        select(Need).where(Need.uscc.in_(usccs), Need.state.in_(OPEN_NEEDS)).order_by(Need.id)
    ):
        needs.setdefault(n.uscc, []).append(
            {
                "id": n.id,
                "amount": n.amount,
                "term_months": n.term_months,
                "purpose": n.purpose,
                "state": n.state,
            }
        )
    log(s, p, "match.intent.firms", "institution", inst.id, detail={"firms": len(usccs)})
    return [
        {
            "uscc": r.uscc,
            "name": r.name,
            "chain": r.industry_chain,
            "stage": r.stage,
            "tier": tiers.get(r.uscc),
            "needs": needs.get(r.uscc, []),
        }
        for r in rows
    ]


def register_intent(
    s: Session,
    p: Principal,
    i: IntentIn,
    need_id: int | None = None,
    now: datetime | None = None,
) -> EventIntent:
    """An investor's intent for a firm that consented to it, or for one of that firm's open
    needs: equity, or 投贷联动 (loan + equity) with a partner bank."""
    authorize(s, p, "match.intent.direct")
    now = now or utcnow()
    inst = _investor(s, p)
    bad: list[Problem] = []
    if i.kind not in DIRECT_KINDS:
        bad.append(
            _bad(
                "kind",
                i.kind,
                "投资机构登记股权投资或投贷联动",
                "an investor registers equity or loan plus equity",
            )
        )
    if i.amount <= 0 or i.amount > MAX_AMOUNT:
        bad.append(_bad("amount", i.amount, "意向金额须大于0", "the amount must be positive"))
    partner = s.get(Institution, i.partner_id) if i.partner_id else None
    if i.kind == "loan_equity" and (partner is None or partner.kind != "bank"):
        bad.append(
            _bad(
                "partner_id",
                i.partner_id,
                "投贷联动须指定一家合作银行",
                "loan plus equity names a partner bank",
            )
        )
    if i.kind == "equity" and i.partner_id:
        bad.append(
            _bad("partner_id", i.partner_id, "股权投资意向无联动机构", "equity takes no partner")
        )
    consented = s.scalar(active_consents(inst.id, now).where(Consent.uscc == i.uscc).limit(1))
    if consented is None:
        bad.append(
            _bad(
                "uscc",
                i.uscc,
                "该企业未向本机构授权（或授权已失效）",
                "the firm has no live consent to your institution",
            )
        )
    if need_id is not None:
        n = s.get(Need, need_id)
        if n is None or n.uscc != i.uscc or n.state not in OPEN_NEEDS:
            bad.append(
                _bad(
                    "need_id",
                    need_id,
                    "需求不存在、不属于该企业或已不在融资中",
                    "no such open need of this firm",
                )
            )
    if bad:
        raise ValidationError("投资意向有误，未登记", "invalid intent; nothing was recorded", bad)
    return _store_intent(
        s, p, "match.intent.direct", i, inst.id, now, need_id=need_id,
        detail={"uscc": i.uscc, "need": need_id, "kind": i.kind, "partner": i.partner_id},
    )  # fmt: skip


def my_intents(s: Session, p: Principal) -> list[dict[str, Any]]:
    """The intents of the investor's institution (at events and outside them), newest first,
    with their outcomes; the government and the auditor see every investor intent."""
    authorize(s, p, "match.intent.list")
    q = (
        select(EventIntent, Enterprise.name, MatchEvent.title)
        .join(Enterprise, Enterprise.uscc == EventIntent.uscc)
        .outerjoin(MatchEvent, MatchEvent.id == EventIntent.event_id)
        .order_by(EventIntent.id.desc())
    )
    if p.role == "investor":
        q = q.where(EventIntent.institution_id == _investor(s, p).id)
    else:
        q = q.where(
            EventIntent.institution_id.in_(
                select(Institution.id).where(Institution.kind.in_(INVESTOR_KINDS))
            )
        )
    out = [
        {
            "id": r.id,
            "event_id": r.event_id,
            "event": title,
            "need_id": r.need_id,
            "uscc": r.uscc,
            "firm": name,
            "institution_id": r.institution_id,
            "partner_id": r.partner_id,
            "kind": r.kind,
            "amount": r.amount,
            "recorded_at": r.recorded_at,
            "outcome": r.outcome,
            "outcome_amount": r.outcome_amount,
            "outcome_reason": r.outcome_reason,
        }
        for r, name, title in s.execute(q).all()
    ]
    log(s, p, "match.intent.list", "institution", p.institution_id or "*", detail={"n": len(out)})
    return out
