"""Platform users for tests that drive the CLI: every command that changes state acts as a person
named by ``--who``, who must exist, be active, and hold the permission."""

from __future__ import annotations

import secrets

from sqlalchemy import Engine

from kejin.access import accounts
from kejin.access.service import SYSTEM
from kejin.db import transaction


def add_people(
    engine: Engine, *specs: tuple[str, str, str | None, str | None], password: str | None = None
) -> None:
    """Create ``(username, role, institution_id, uscc)`` accounts usable at once, as the demo's
    are (the audited ``demo`` exemption: no second person, no first-login change), with
    ``password`` when a test logs in (else a random one)."""
    with transaction(engine) as s:
        for name, role, inst, uscc in specs:
            accounts.create_user(
                s,
                SYSTEM,
                username=name,
                role=role,
                password=password or _random_password(name),
                institution_id=inst,
                uscc=uscc,
                exemption="demo",
            )


def _random_password(username: str) -> str:
    """A random password that passes the password rules: a random one that happened to contain
    a two-letter username ('dg' in 'yOWqPGDGYMc0nTyT') was refused, one run in a few hundred."""
    while True:
        pw = secrets.token_urlsafe(12)
        if username.lower() not in pw.lower():
            return pw
