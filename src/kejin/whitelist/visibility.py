"""What the platform service needs from the whitelist: the push as a visibility source, and the
session-level reads behind the pages and the API (versions, the list pushed to a bank).

A bank sees the *members of the latest version pushed to its institution*: an older push is
superseded by a newer one, so a firm that left the whitelist stops being visible to the bank at
the next push, and a firm never pushed is not visible through this source at all (consent is the
other door). Only the rule set's ``push_fields`` leave the platform.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.whitelist.rules import load_rules
from kejin.whitelist.tables import WhitelistEntry, WhitelistPush, WhitelistVersion


def latest_pushed_version(institution_id: str) -> Any:
    """Scalar subquery: the newest version id pushed to the institution (NULL if none)."""
    return (
        select(func.max(WhitelistPush.version_id))
        .where(WhitelistPush.institution_id == institution_id)
        .scalar_subquery()
    )


def pushed_usccs(institution_id: str, now: datetime) -> Select[Any]:
    """Visibility source (``add_visibility("whitelist", …)``): members of the latest push."""
    return select(WhitelistEntry.uscc).where(
        WhitelistEntry.version_id == latest_pushed_version(institution_id),
        WhitelistEntry.status == "member",
    )


def pushed_list(
    session: Session,
    institution_id: str,
    limit: int | None = None,
    offset: int = 0,
    *,
    q: str = "",
    chain: str = "",
    tier: str = "",
) -> dict[str, Any]:
    """The latest version pushed to the institution, members only, push fields only.

    ``total`` counts every member that passes the filters (``q``: a USCC prefix or part of the
    name; ``chain``, ``tier``: exact codes); ``items`` holds the slice asked for (all by default:
    a bank's system takes the whole list, a page shows it a screen at a time). A filter on a
    field the rule set does not push is refused: the answer would reveal what was not sent.
    """
    vid = session.scalar(select(latest_pushed_version(institution_id)))
    if vid is None:
        return {
            "institution": institution_id, "version": None, "fields": [], "total": 0, "items": [],
        }  # fmt: skip
    version = session.get(WhitelistVersion, vid)
    assert version is not None
    rules, _ = load_rules(version.rules_id)
    fields = list(rules.push_fields)
    cols = [getattr(WhitelistEntry, f) for f in fields]
    members = [WhitelistEntry.version_id == vid, WhitelistEntry.status == "member"]
    members += _filters(fields, q.strip(), chain.strip(), tier.strip())
    total = session.scalar(select(func.count()).select_from(WhitelistEntry).where(*members))
    rows = session.execute(
        select(*cols).where(*members).order_by(WhitelistEntry.uscc).limit(limit).offset(offset)
    ).all()
    last = session.scalar(
        select(func.max(WhitelistPush.pushed_at)).where(
            WhitelistPush.institution_id == institution_id, WhitelistPush.version_id == vid
        )
    )
    return {
        "institution": institution_id,
        "version": vid,
        "as_of": version.as_of,
        "pushed_at": last,
        "fields": fields,
        "total": total,
        "items": [dict(zip(fields, r, strict=True)) for r in rows],
        "filters": {"q": q.strip(), "chain": chain.strip(), "tier": tier.strip()},
    }


def _filters(fields: list[str], q: str, chain: str, tier: str) -> list[Any]:
    """Search conditions on the pushed fields; a filter on a field not pushed is refused."""
    unsent = [
        field
        for field, value, sent in (
            ("q", q, bool({"uscc", "name"} & set(fields))),
            ("chain", chain, "industry_chain" in fields),
            ("tier", tier, "tier" in fields),
        )
        if value and not sent
    ]
    if unsent:
        raise ValidationError(
            "只能按推送给本行的字段检索",
            "search only by the fields pushed to your bank",
            [Problem("该字段未推送给本行", "not pushed to your bank", field=f) for f in unsent],
        )
    out: list[Any] = []
    if q:
        conds = []
        if "uscc" in fields:
            conds.append(WhitelistEntry.uscc.startswith(q.upper(), autoescape=True))
        if "name" in fields:
            conds.append(WhitelistEntry.name.contains(q, autoescape=True))
        out.append(or_(*conds))
    if chain:
        out.append(WhitelistEntry.industry_chain == chain)
    if tier:
        out.append(WhitelistEntry.tier == tier)
    return out


def versions(session: Session, limit: int = 50) -> list[dict[str, Any]]:
    """Versions newest first, with member counts per tier."""
    vs = session.scalars(
        select(WhitelistVersion).order_by(WhitelistVersion.id.desc()).limit(limit)
    ).all()
    tiers: dict[int, dict[str, int]] = {}
    if vs:
        for vid, tier, n in session.execute(
            select(WhitelistEntry.version_id, WhitelistEntry.tier, func.count())
            .where(
                WhitelistEntry.version_id.in_([v.id for v in vs]),
                WhitelistEntry.status == "member",
            )
            .group_by(WhitelistEntry.version_id, WhitelistEntry.tier)
        ):
            tiers.setdefault(vid, {})[tier or "-"] = n
    return [
        {
            "version": v.id,
            "as_of": v.as_of,
            "rules": v.rules_id,
            "rules_version": v.rules_version,
            "score_run": v.score_run_id,
            "members": v.members,
            "tiers": tiers.get(v.id, {}),
            "created_at": v.created_at,
            "created_by": v.created_by,
        }
        for v in vs
    ]


def require_version(session: Session, vid: int) -> None:
    if session.get(WhitelistVersion, vid) is None:
        raise NotFoundError(
            "白名单版本不存在",
            "no such whitelist version",
            [Problem("不存在", "not found", field="version", value=vid)],
        )
