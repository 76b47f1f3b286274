"""Who a command acts as: a person named by ``--who``, or the platform itself for a batch run.

The CLI is a client of the same services as the web (docs/service.md, "CLI commands and who
they act as"). A command that is a person's act opens one transaction, resolves ``--who`` to that
person's principal, checks the same rule the route's gate checks, and calls the function the
route calls, which writes the change and its audit record in that transaction. A batch run that
is no one's decision (scoring, a refresh without ``--who``, building the synthetic region)
records one audit event as the ``system`` principal, in the transaction of the change it records.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kejin.access.rules import Principal, Unauthenticated, authorize
from kejin.access.service import SYSTEM, log, named_principal
from kejin.db import transaction
from kejin.errors import Problem

WHO_HELP = "操作人（平台用户名）/ acting person (platform username)"


def who_option(help: str = WHO_HELP, *aliases: str) -> Any:
    """The ``--who`` option: required (an empty value is refused by :func:`person`)."""
    return typer.Option(None, "--who", *aliases, help=help)


def require_who(who: str | None, option: str = "--who") -> str:
    """The username given with ``option``, or the bilingual refusal naming the option."""
    if who is None or not who.strip():
        raise Unauthenticated(
            f"须用 {option} 指明操作人（平台用户名）",
            f"name the acting person with {option} (a platform username)",
            [Problem("未指明操作人", "no acting person named", field=option)],
        )
    return who.strip()


def person(
    s: Session,
    who: str | None,
    action: str | None = None,
    target: Any = None,
    option: str = "--who",
) -> Principal:
    """The active platform user ``option`` names, checked against ``action`` as the route's gate
    checks it (:func:`kejin.access.rules.authorize`): the same refusal on both doors."""
    p = named_principal(s, require_who(who, option), option)
    if action is not None:
        authorize(s, p, action, target)
    return p


@contextmanager
def acting(
    engine: Engine, who: str | None, action: str | None = None, target: Any = None
) -> Iterator[tuple[Session, Principal]]:
    """One unit of work acting as ``--who``: the change and its audit record commit together."""
    with transaction(engine) as s:
        yield s, person(s, who, action, target)


def system_event(
    s: Session, action: str, kind: str, entity: Any, detail: dict[str, Any] | None = None, **kw: Any
) -> None:
    """The audit record of a batch run, as the ``system`` principal, in the run's transaction."""
    log(s, SYSTEM, action, kind, entity, detail=detail or {}, **kw)
