"""Engine, sessions and the column types every area shares.

SQLite is the embedded default and PostgreSQL the production database; both must give the same
answers to the cent. SQLite has no decimal type (it would store money as a binary float), so
:class:`FixedDecimal` stores scaled integers there and ``NUMERIC(p, s)`` on PostgreSQL. Python code
always sees :class:`decimal.Decimal`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Engine, MetaData, Numeric, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator, TypeEngine

from kejin.config import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every area's tables; one metadata so Alembic sees the whole schema."""

    metadata = MetaData(naming_convention=NAMING)


class FixedDecimal(TypeDecorator[Decimal]):
    """An exact decimal with a fixed scale: NUMERIC(p, s), or a scaled BIGINT on SQLite.

    Values with more decimals than the scale are refused rather than rounded, because a silent
    rounding of money is exactly the bug an auditor looks for.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._factor = 10**scale

    def __repr__(self) -> str:  # Alembic renders column types in revisions from this.
        return f"FixedDecimal({self.precision}, {self.scale})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        d = value if isinstance(value, Decimal) else Decimal(str(value))
        q = d.quantize(self._quantum)
        if q != d:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            return int(q.scaleb(self.scale))
        return q

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale).quantize(self._quantum)
        return Decimal(value).quantize(self._quantum)


def Money() -> FixedDecimal:
    """CNY amounts: NUMERIC(18,2), up to 10^16 yuan."""
    return FixedDecimal(18, 2)


def Rate() -> FixedDecimal:
    """Annual rates and shares as fractions (0.0345 = 3.45%), six decimals."""
    return FixedDecimal(9, 6)


def normalize_url(url: str) -> str:
    """Accept the libpq-style ``postgresql://`` URL people copy around; kejin drives psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create an engine with the settings each backend needs to behave like the other.

    A server database's pooled connections are checked before use (``pool_pre_ping``): after
    PostgreSQL restarts or an administrator terminates backends, every pooled connection is dead,
    and without the check each one failed one request (payouts and logins answered 500) before
    the pool noticed. The ping costs one loopback round trip per checkout.
    """
    url = normalize_url(url or get_settings().database_url)
    if not url.startswith("sqlite"):
        kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception."""
    with session_factory(engine)() as session, session.begin():
        yield session
