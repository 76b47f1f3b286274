"""Settings read from the environment, so that no secret or deployment detail lives in the repo."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Process-wide settings.

    ``KEJIN_DATABASE_URL`` selects the database; the embedded SQLite file is the default so that a
    newcomer needs nothing installed, while production points it at PostgreSQL.
    """

    model_config = SettingsConfigDict(env_prefix="KEJIN_", extra="ignore")

    database_url: str = "sqlite:///kejin.db"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
