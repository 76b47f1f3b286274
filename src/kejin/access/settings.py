"""Settings of the service: secrets and costs come from the environment, never from the repo.

Kept apart from :mod:`kejin.config` so that a command which never serves pages (scoring, ingest)
does not need a session key. Argon2 costs are settings so that tests can hash in microseconds
while production keeps OWASP-grade parameters.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEJIN_", extra="ignore")

    #: Signs session cookies. ``kejin serve`` generates a random one when unset (demo only).
    session_key: SecretStr | None = None
    #: Always send cookies with ``Secure``. Without it they get ``Secure`` whenever the request
    #: came over HTTPS (as the server sees it: see ``trusted_proxies``).
    secure_cookies: bool = False
    #: Addresses of reverse proxies whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are
    #: believed (comma-separated IPs or networks, ``*`` for any). Empty: no forwarded header is
    #: believed, so nobody can claim another client address (the login throttle's key) or HTTPS.
    trusted_proxies: str = ""
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1
    #: Failed logins in a row before the account is locked for ``login_lock_seconds``.
    login_max_failures: int = 10
    login_lock_seconds: int = 900
    #: Failed logins from one client address within ``login_client_window_seconds`` before that
    #: address is refused for the rest of the window. Below ``login_max_failures``, so one client
    #: alone cannot lock another person's account; many addresses still can (the trade-off is in
    #: docs/service.md).
    login_client_max_failures: int = 5
    login_client_window_seconds: int = 900
    #: Lifetime of a login session (the cookie and its row in ``user_sessions``).
    session_hours: int = 8
    #: Whether audit events of reads (profile views, lists) wait for the database's durable
    #: commit. True: a read is answered only once its record would survive a crash of the
    #: database server. False: up to a fraction of a second of read records can be lost in such a
    #: crash (never a change's record; the chain stays whole), for less latency under load.
    read_audit_durable: bool = True
    #: Default lifetime of a bank API token.
    token_days: int = 90
    #: Key of the audit chain's MACs (:mod:`kejin.access.auditkey`); never stored in the database.
    audit_key: SecretStr | None = None
    #: Or a file of keys, the signing key first and retired keys below it (rotation).
    audit_key_file: Path | None = None
    #: Connection pool per worker process (the profile endpoint holds one connection briefly).
    db_pool_size: int = 20


@lru_cache(maxsize=1)
def get_service_settings() -> ServiceSettings:
    return ServiceSettings()
