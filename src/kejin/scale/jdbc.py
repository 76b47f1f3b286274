"""Where a Spark run reads the registry: a snapshot's Parquet, or PostgreSQL itself over JDBC.

Both give a batch command the same three things — a table as a Spark frame, the latest data year
and data pull (asked on the driver), and a provenance record for the run — so the commands are
written once against :class:`Source`. ``--source jdbc`` reads the platform's own PostgreSQL
database with the PostgreSQL JDBC driver (Debian's ``libpostgresql-jdbc-java``), each table in
``partitions`` parallel reads split by a hash of its key, all of them inside one exported
PostgreSQL snapshot so every partition sees the same commit while writers go on.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy import Connection, Engine, func, select, text

from kejin.errors import Problem, ValidationError
from kejin.registry.tables import AnnualIndicator, DataPull
from kejin.scale import snapshot

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: Where Debian's libpostgresql-jdbc-java puts the driver (KEJIN_JDBC_JAR to use another).
JAR = "/usr/share/java/postgresql.jar"
#: Parallel reads per table: each a predicate on a hash of the table's key.
PARTITIONS = 8
#: The key each table's reads are split on (a hash of it: strings and integers alike).
KEYS = {t.name: next(iter(t.primary_key.columns)).name for t in snapshot.TABLES}


def jar() -> str | None:
    """The PostgreSQL JDBC driver's jar, or None where it is not installed."""
    path = os.environ.get("KEJIN_JDBC_JAR", JAR)
    return path if Path(path).is_file() else None


class Source(ABC):
    """The registry as a Spark run reads it."""

    @abstractmethod
    def verify(self) -> None:
        """Refuse, before any Spark job, a source that cannot be read as it should."""

    @abstractmethod
    def frame(self, ss: SparkSession, name: str) -> DataFrame:
        """Table ``name`` as a Spark frame, read by the executors."""

    @abstractmethod
    def max_year(self, at_most: int | None = None) -> int | None:
        """The latest data year (at most ``at_most``), asked on the driver."""

    @abstractmethod
    def latest_pull(self) -> int | None:
        """The newest data pull the source holds: the run's provenance."""

    @abstractmethod
    def provenance(self) -> dict[str, Any]:
        """What the run saw, for its results directory and its stored input hash."""

    def input_sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.provenance(), sort_keys=True).encode()).hexdigest()

    def close(self) -> None:  # noqa: B027  (most sources hold nothing open)
        """Release what the read held open."""


class SnapshotSource(Source):
    """A verified ``kejin export snapshot`` directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def verify(self) -> None:
        snapshot.read_manifest(self.path)

    def frame(self, ss: SparkSession, name: str) -> DataFrame:
        return ss.read.parquet(str(self.path / name))

    def max_year(self, at_most: int | None = None) -> int | None:
        years = snapshot.table(self.path, "annual_indicators")
        if at_most is not None:
            years = years.filter(pl.col("year") <= at_most)
        return years.select(pl.col("year").max()).collect().item()

    def latest_pull(self) -> int | None:
        return snapshot.table(self.path, "data_pulls").select(pl.col("id").max()).collect().item()

    def provenance(self) -> dict[str, Any]:
        manifest = json.loads((self.path / snapshot.MANIFEST).read_text())
        pulls = sorted({x for t in manifest["tables"].values() for x in t.get("pull_ids", [])})
        return {"kind": "snapshot", "path": str(self.path), "taken_at": manifest["taken_at"],
                "manifest_sha256": self.input_sha256(), "pull_ids": pulls}  # fmt: skip

    def input_sha256(self) -> str:
        # The manifest names every part's SHA-256: its hash identifies the data exactly (the
        # input hash a Spark run from a snapshot has always stored).
        return hashlib.sha256((self.path / snapshot.MANIFEST).read_bytes()).hexdigest()


class JdbcSource(Source):
    """The platform's PostgreSQL database, read by the executors over JDBC.

    The driver opens a ``REPEATABLE READ`` transaction and exports its snapshot
    (``pg_export_snapshot``); every partition's connection adopts it (``SET TRANSACTION
    SNAPSHOT``) before reading, so all tables and partitions show one commit, as a snapshot
    export does. The transaction stays open until :meth:`close` (the run's end)."""

    def __init__(self, engine: Engine, partitions: int = PARTITIONS) -> None:
        self.engine, self.partitions = engine, partitions
        self._conn: Connection | None = None
        self._snapshot_id: str | None = None

    def verify(self) -> None:
        if self.engine.dialect.name != "postgresql":
            raise ValidationError(
                "--source jdbc 只能读取 PostgreSQL 数据库", "--source jdbc reads PostgreSQL only",
                [Problem(f"当前数据库为 {self.engine.dialect.name}",
                         f"the database is {self.engine.dialect.name}", field="source",
                         value="jdbc")],
            )  # fmt: skip
        if jar() is None:
            path = os.environ.get("KEJIN_JDBC_JAR", JAR)
            raise ValidationError(
                "缺少 PostgreSQL JDBC 驱动（apt-get install libpostgresql-jdbc-java）",
                "the PostgreSQL JDBC driver is missing (apt-get install libpostgresql-jdbc-java)",
                [Problem("文件不存在", "no such file", file=path, field="source", value="jdbc")],
            )  # fmt: skip
        self._hold()

    def _hold(self) -> Connection:
        if self._conn is None:
            conn = self.engine.connect().execution_options(isolation_level="REPEATABLE READ")
            conn.begin()
            self._snapshot_id = conn.execute(text("SELECT pg_export_snapshot()")).scalar()
            self._conn = conn
        return self._conn

    def _options(self) -> dict[str, str]:
        url = self.engine.url
        opts = {
            "url": f"jdbc:postgresql://{url.host or 'localhost'}:{url.port or 5432}/{url.database}",
            "driver": "org.postgresql.Driver",
            "user": url.username or "",
            "fetchsize": "10000",
        }
        if url.password:
            opts["password"] = str(url.password)
        self._hold()
        # Each partition's connection joins the driver's exported snapshot before it reads
        # (Spark runs the statement after it turned autocommit off, so the SETs open the
        # read's own transaction): every table and partition sees one commit.
        opts["sessionInitStatement"] = (
            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; "
            f"SET TRANSACTION SNAPSHOT '{self._snapshot_id}'"
        )
        return opts

    def frame(self, ss: SparkSession, name: str) -> DataFrame:
        key = KEYS[name]
        n = self.partitions
        # Split by a hash of the key (text or integer alike), masked to non-negative.
        predicates = [f"(hashtext(CAST(\"{key}\" AS text)) & 2147483647) % {n} = {k}"
                      for k in range(n)]  # fmt: skip
        opts = self._options()
        url = opts.pop("url")
        return ss.read.jdbc(url, f'"{name}"', predicates=predicates, properties=opts)

    def max_year(self, at_most: int | None = None) -> int | None:
        q = select(func.max(AnnualIndicator.year))
        if at_most is not None:
            q = q.where(AnnualIndicator.year <= at_most)
        return self._hold().execute(q).scalar()

    def latest_pull(self) -> int | None:
        return self._hold().execute(select(func.max(DataPull.id))).scalar()

    def provenance(self) -> dict[str, Any]:
        conn = self._hold()
        rows = {t.name: conn.execute(select(func.count()).select_from(t)).scalar()
                for t in snapshot.TABLES}  # fmt: skip
        pulls = [int(x) for x in conn.execute(select(DataPull.id).order_by(DataPull.id)).scalars()]
        url = self.engine.url
        return {"kind": "jdbc", "database": f"{url.host}:{url.port or 5432}/{url.database}",
                "partitions": self.partitions, "rows": rows, "pull_ids": pulls}  # fmt: skip

    def close(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
            self._conn.close()
            self._conn = None


def source_of(
    engine_name: str, snapshot_dir: Path | None, source: str | None, db: Engine | None
) -> Source | None:
    """The source a command's options name: None for the local engine; a snapshot directory
    or ``--source jdbc`` for Spark (exactly one of them). Refused before anything is read."""
    import typer

    if engine_name not in ("local", "spark"):
        raise typer.BadParameter("--engine: local | spark")
    if source not in (None, "snapshot", "jdbc"):
        raise typer.BadParameter("--source: snapshot | jdbc")
    jdbc = source == "jdbc"
    if engine_name == "local":
        if snapshot_dir is not None or source is not None:
            raise typer.BadParameter(
                "--snapshot/--source 须与 --engine spark 同用 / --snapshot and --source go with "
                "--engine spark"
            )
        return None
    if jdbc == (snapshot_dir is not None):
        raise typer.BadParameter(
            "--engine spark 须与 --snapshot DIR 或 --source jdbc 之一同用 / --engine spark goes "
            "with --snapshot DIR or --source jdbc (one of them)"
        )
    if jdbc:
        assert db is not None
        return JdbcSource(db)
    assert snapshot_dir is not None
    return SnapshotSource(snapshot_dir)
