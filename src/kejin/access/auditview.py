"""The audit log as an auditor reads it: filters parsed once for the page, the API and the
download, and the Excel export of the filtered events with actions and entities as labels."""

from __future__ import annotations

from datetime import date
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kejin import times
from kejin.access import service
from kejin.access.rules import Principal
from kejin.access.tables import ROLES, AuditEvent
from kejin.errors import Problem, ValidationError
from kejin.vocab import AUDIT_ENTITIES, AUDIT_STEPS, audit_action_label


def parse_day(text: str | None, field: str) -> date | None:
    """A filter date from a form (empty: no bound), or a refusal naming the field."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "日期无效",
            "invalid date",
            [
                Problem(
                    "请输入日期（年-月-日）", "enter a date as YYYY-MM-DD", field=field, value=text
                )
            ],
        ) from None


def entity_label(kind: str, lang: str) -> str:
    t = AUDIT_ENTITIES.get(kind)
    if t is None:
        return "其他对象" if lang != "en" else "other object"
    return t.en if lang == "en" else t.zh


def entity_text(kind: str, entity_id: str, lang: str, names: dict[str, str]) -> str:
    """The record's object as a reader names it: an institution by its name, a list's act
    (``search``, ``export``) by its label, anything else (a USCC, a number) as it is. An
    institution's id is named whatever the record's kind (a whitelist push names the bank)."""
    if kind == "institution" or entity_id in names:
        return names.get(entity_id, entity_id)
    step = AUDIT_STEPS.get(entity_id)
    if step is not None:
        return step.en if lang == "en" else step.zh
    return entity_id


def role_label(role: str, lang: str) -> str:
    """A role by its name; the two actors without an account named for what they are."""
    t = ROLES.get(role)
    if t is not None:
        return t.en if lang == "en" else t.zh
    if role == "applicant":
        return "注册申请人" if lang != "en" else "registration applicant"
    return "系统批处理" if lang != "en" else "system batch"


def actor_text(actor: str, role: str, lang: str) -> str:
    """Who acted: a username, or for a firm registering (no account yet) its request."""
    if role == "applicant":
        n = actor.rpartition("#")[2]
        return f"注册申请 #{n}" if lang != "en" else f"registration request #{n}"
    return actor


COLUMNS = (
    ("序号", "seq"),
    ("时间（{zone}）", "at ({zone})"),  # the zone the pages show (kejin.times)
    ("操作人", "actor"),
    ("角色", "role"),
    ("操作", "action"),
    ("对象类型", "entity kind"),
    ("对象", "entity"),
    ("详情", "detail"),
    ("哈希", "hash"),
)


def workbook(
    s: Session,
    p: Principal,
    lang: str,
    *,
    actor: str | None = None,
    action_prefix: str | None = None,
    since: date | None = None,
    until: date | None = None,
) -> tuple[IO[bytes], int]:
    """The filtered events as a streamed workbook (through :mod:`kejin.exports`), institution
    ids named; the export is audited by :func:`kejin.access.service.export_audit`."""
    from kejin.exports import Book
    from kejin.lending.tables import Institution

    names = dict(s.execute(select(Institution.id, Institution.name)).all())
    book = Book(streaming=True)
    ws = book.sheet("审计日志 audit log")
    ws.widths([8, 20, 16, 12, 28, 14, 24, 60, 18])
    ws.freeze("A2")
    zone = times.zone().key
    ws.row(f"{zh} / {en}".format(zone=zone) for zh, en in COLUMNS)

    def write(e: AuditEvent) -> None:
        entity = entity_text(e.entity_kind, e.entity_id, lang, names)
        ws.row(
            [
                e.seq,
                times.when(e.at, seconds=True),
                actor_text(e.actor, e.actor_role, lang),
                role_label(e.actor_role, lang),
                audit_action_label(e.action, lang),
                entity_label(e.entity_kind, lang),
                entity,
                e.detail,
                e.hash,
            ]
        )

    n = service.export_audit(
        s, p, write, actor=actor, action_prefix=action_prefix, since=since, until=until
    )
    return book.spooled(), n


def filters_of(
    actor: str | None, action: str | None, since: str | None, until: str | None
) -> dict[str, Any]:
    """The page's filters as the service takes them: the action box is a prefix (``fund.`` or
    ``fund`` for every fund act; a whole action matches itself)."""
    return {
        "actor": actor or None,
        "action_prefix": action or None,
        "since": parse_day(since, "since"),
        "until": parse_day(until, "until"),
    }
