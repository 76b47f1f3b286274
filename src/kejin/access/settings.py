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
    #: Send cookies with ``Secure`` (set true behind HTTPS).
    secure_cookies: bool = False
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 1
    #: Failed logins in a row before the account is locked for ``login_lock_seconds``.
    login_max_failures: int = 5
    login_lock_seconds: int = 300
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
