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
    #: Bounds on a department file, checked before it is parsed (:mod:`kejin.ingest.limits`):
    #: its size on disk or in an upload, the rows it may hold, and for an .xlsx (a zip of XML)
    #: the total size its members declare once unpacked and the most any member may expand.
    ingest_max_bytes: int = 200 * 1024 * 1024
    ingest_max_rows: int = 2_000_000
    ingest_max_unzipped_bytes: int = 1024 * 1024 * 1024
    ingest_max_zip_ratio: float = 100.0
    #: The region served (:mod:`kejin.regions`, docs/region.md): a bundled region's name or a
    #: region file's path; empty for none (every library template active).
    region: str = "lianyungang"
    #: Seconds a worker reuses the exact total of a long list for the same caller and filters
    #: (:mod:`kejin.totals`); 0 counts on every page.
    list_total_ttl: float = 30.0
    #: The zone every timestamp is shown in on the pages and written in to Excel exports
    #: (:mod:`kejin.times`; stored times are naive UTC). The platform's users are in China.
    timezone: str = "Asia/Shanghai"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
