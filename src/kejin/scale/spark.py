"""Apache Spark as the distributed engine of kejin's batch work, with kejin's kernels inside it.

A rule is written once, as a Polars kernel. Spark moves the data (reading Parquet or JDBC,
partitioning, shuffling peer groups together, writing results) and hands each partition or group
to the kernel as Arrow batches (``mapInArrow``, ``groupBy(...).applyInArrow``): no rule is
translated into Spark SQL, so the local engine and Spark cannot drift apart (docs/scale.md).

PySpark is an optional extra (``pip install kejin[spark]``) and needs a Java runtime; nothing
here is imported by the rest of kejin unless a command is asked for ``--engine spark``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kejin.errors import KejinError, Problem

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

#: Where a session runs when no ``--master`` is given: this machine, two worker threads.
DEFAULT_MASTER = "local[2]"

FrameKernel = Callable[[pl.DataFrame], pl.DataFrame]


class SparkUnavailable(KejinError):
    """The Spark engine was asked for where PySpark or Java is missing."""

    status = 503


def unavailable_reason() -> str | None:
    """Why Spark cannot run here (for a clear error and for the tests' skip), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed (pip install 'kejin[spark]')"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java runtime (apt-get install openjdk-17-jre-headless)"
    return None


def session(master: str | None = None, app: str = "kejin") -> SparkSession:
    """A Spark session: ``master`` (or ``KEJIN_SPARK_MASTER``) else ``local[2]``.

    Under ``spark-submit`` the master and resources come from the submit command and this only
    joins the session it made. Times are UTC so that dates never shift between engines.
    """
    why = unavailable_reason()
    if why is not None:
        raise SparkUnavailable(
            f"无法使用 Spark 引擎：{why}",
            f"the Spark engine is unavailable: {why}",
            [Problem("Spark 不可用", "Spark unavailable", field="engine", value="spark")],
        )
    from pyspark.sql import SparkSession

    # Executors' Python workers must be this interpreter (the one with kejin installed), not
    # whichever python3 is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = SparkSession.builder.appName(app)
    master = master or os.environ.get("KEJIN_SPARK_MASTER")
    # Launched by spark-submit, the driver finds the JVM it was started from (its gateway port
    # in the environment) with the master already set: only an explicit master overrides it.
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:
        b = b.master(master or DEFAULT_MASTER)
        local = _local_cores(master or DEFAULT_MASTER)
        if local:
            # Spark's default of 200 shuffle partitions is sized for clusters: on one machine
            # each is a Python worker round-trip that costs more than the rows it carries.
            # The one JVM is driver and executor: its default 1 GB heap cannot collect a
            # million firms' results (KEJIN_SPARK_DRIVER_MEMORY to change).
            b = b.config("spark.sql.shuffle.partitions", str(4 * local)).config(
                "spark.driver.memory", os.environ.get("KEJIN_SPARK_DRIVER_MEMORY", "4g")
            )
    b = (
        b.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # Results reach the driver as Parquet (to_polars): timestamps as Arrow/Polars read them.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    from kejin.scale.jdbc import jar

    if jar() is not None:
        # The PostgreSQL JDBC driver, for `--source jdbc` (it must be on the classpath before
        # the JVM starts: a session made without it could not read over JDBC later).
        b = b.config("spark.jars", jar())
    try:
        return b.getOrCreate()
    except Exception as e:  # the JVM or the master refused: say which, before anything is read
        where = master or DEFAULT_MASTER
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise SparkUnavailable(
            f"Spark 会话无法启动（master {where}）：{first}",
            f"the Spark session could not start (master {where}): {first}",
            [Problem("Spark 会话无法启动", "Spark session failed", field="master", value=where)],
        ) from e


def _local_cores(master: str) -> int | None:
    """The worker threads of a ``local[N]`` / ``local[*]`` / ``local`` master, else None."""
    if master == "local":
        return 1
    if master.startswith("local[") and master.endswith("]"):
        n = master[6:-1].split(",")[0]
        return os.cpu_count() or 1 if n == "*" else int(n) if n.isdigit() else None
    return None


def spark_schema(frame: pl.DataFrame) -> Any:
    """The Spark schema of a Polars frame, through its Arrow schema."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(frame.to_arrow().schema)


def arrow(frame: pl.DataFrame, schema: Any = None) -> pa.Table:
    """A Polars frame as the Arrow Spark checks against ``schema`` (its own, by default):
    Polars writes large strings and lists, Spark's Arrow UDFs expect the plain ones."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return frame.to_arrow().cast(to_arrow_schema(schema or spark_schema(frame)))


def map_frames(sdf: DataFrame, kernel: FrameKernel, sample: pl.DataFrame) -> DataFrame:
    """Run a row-wise kernel over every partition of ``sdf`` as Polars frames.

    ``sample``: a few input rows, run through the kernel here to learn its output schema (Spark
    must know it before any executor starts).
    """
    out_schema = spark_schema(kernel(sample))
    names = list(out_schema.fieldNames())

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows == 0:
                continue
            out = _guarded(kernel, pl.from_arrow(batch))  # type: ignore[arg-type]
            yield from arrow(out.select(names), out_schema).to_batches()

    return sdf.mapInArrow(run, out_schema)


def apply_groups(
    sdf: DataFrame, key: str, kernel: FrameKernel, sample_out: pl.DataFrame
) -> DataFrame:
    """Run a kernel over each group of ``sdf`` by ``key``, whole, as one Polars frame
    (``groupBy(key).applyInArrow``). ``sample_out``: the kernel's output on a sample, for its
    schema (Spark must know it before any executor starts)."""
    out_schema = spark_schema(sample_out)
    names = list(out_schema.fieldNames())

    def run(table: pa.Table) -> pa.Table:
        out = _guarded(kernel, pl.from_arrow(table))  # type: ignore[arg-type]
        return arrow(out.select(names), out_schema)

    return sdf.groupBy(key).applyInArrow(run, out_schema)


def to_polars(sdf: DataFrame) -> pl.DataFrame:
    """Collect a Spark result on the driver as a Polars frame. A kejin error a kernel raised on
    an executor is raised here as itself (its zh/en reasons and problems).

    On a local master the executors write the result as Parquet to a scratch folder and Polars
    reads it: ``toArrow`` funnels every batch through the JVM driver (serialised, buffered whole
    in its heap, then copied through the Py4J socket), which at 200k firms cost minutes and at
    1M outgrew a 4 GB heap (issue #21). On a cluster a driver-local folder is not the executors'
    one, so the result still comes through ``toArrow`` there.
    """
    with kernel_errors():
        if not sdf.sparkSession.sparkContext.master.startswith("local"):
            return pl.from_arrow(sdf.toArrow())  # type: ignore[return-value]
        with tempfile.TemporaryDirectory(prefix="kejin-spark-") as scratch:
            out = Path(scratch) / "result"
            sdf.write.parquet(str(out))
            files = sorted(out.glob("part-*.parquet"))
            if not files:  # an empty result may leave no part file: its schema, through Arrow
                return pl.from_arrow(sdf.limit(0).toArrow())  # type: ignore[return-value]
            return pl.read_parquet(files)


_MARK, _END = "<<kejin-error>>", "<</kejin-error>>"


def _guarded(kernel: FrameKernel, frame: pl.DataFrame) -> pl.DataFrame:
    """Run a kernel; a kejin error (bad input a person can fix) crosses back to the driver
    inside Spark's own exception text, as JSON between markers."""
    try:
        return kernel(frame)
    except KejinError as e:
        body = json.dumps({"class": type(e).__name__, **e.to_dict()}, ensure_ascii=False)
        raise RuntimeError(f"{_MARK}{body}{_END}") from None


@contextmanager
def kernel_errors() -> Iterator[None]:
    """Around a Spark action: re-raise a kernel's kejin error as that error, not as a JVM
    stack trace, so the command prints the same zh/en message the local engine does."""
    try:
        yield
    except KejinError:
        raise
    except Exception as e:
        text = str(e)
        if _MARK not in text:
            raise
        body = json.loads(text[text.index(_MARK) + len(_MARK) : text.index(_END)])
        from kejin import errors

        cls = getattr(errors, body["class"], None)
        if not (isinstance(cls, type) and issubclass(cls, KejinError)):
            cls = errors.ValidationError
        problems = [Problem(**p) for p in body["problems"]]
        raise cls(body["reason_zh"], body["reason_en"], problems) from None


#: Hash buckets of firms processed together (each a task); more than cores, so tasks balance.
BUCKETS = 64


def by_firm(
    parts: dict[str, tuple[DataFrame, dict[str, pl.DataType]]],
    kernel: Callable[[dict[str, pl.DataFrame]], pl.DataFrame],
    key: str = "uscc",
    buckets: int = BUCKETS,
) -> tuple[DataFrame, pl.DataFrame]:
    """Run ``kernel`` on every firm's rows of several tables at once, a hash bucket of firms at
    a time: the rows of each table (``name → (Spark frame, Polars schema)``) are tagged, unioned
    and grouped by a hash of ``key``, so a bucket holds all rows of its firms; the kernel gets
    them back as one Polars frame per table, cast to the schema the local engine reads.

    Exact for any kernel that treats firms independently (a firm's rows never straddle buckets).
    Column names shared by two tables must hold the same type in both (true when they come from
    one model, or are cast so before the call). Returns the result and the kernel's output on
    one bucket (run here for its schema; a sample for a next step's schema).
    """
    from pyspark.sql import functions as F

    tagged = None
    for tag, (sdf, schema) in parts.items():
        sdf = sdf.select(*schema).withColumn("_table", F.lit(tag))
        tagged = sdf if tagged is None else tagged.unionByName(sdf, allowMissingColumns=True)
    assert tagged is not None
    tagged = tagged.withColumn("_bucket", F.pmod(F.xxhash64(key), F.lit(buckets)))

    # Only the schemas travel to the executors (a Spark frame cannot be pickled).
    schemas = {tag: schema for tag, (_, schema) in parts.items()}

    def run(rows: pl.DataFrame) -> pl.DataFrame:
        return kernel(
            {
                tag: rows.filter(pl.col("_table") == tag).select(
                    [pl.col(c).cast(t) for c, t in schema.items()]
                )
                for tag, schema in schemas.items()
            }
        )

    # The kernel's output schema, learnt from one bucket run here (Spark needs it first).
    sample = run(to_polars(tagged.where(F.col("_bucket") == 0)))
    return apply_groups(tagged, "_bucket", run, sample), sample


def from_polars(ss: SparkSession, frame: pl.DataFrame) -> DataFrame:
    """A driver-side Polars frame as a Spark frame (types kept, strings plain).

    On a local master Polars writes it as Parquet and Spark reads that, split across tasks:
    ``createDataFrame`` would serialise every row through the JVM driver first (issue #21). The
    scratch file lives until this process ends (Spark reads it lazily, whenever a job runs).
    """
    table = arrow(frame)
    if not ss.sparkContext.master.startswith("local"):
        return ss.createDataFrame(table, schema=spark_schema(frame))
    import pyarrow.parquet as pq

    scratch = tempfile.mkdtemp(prefix="kejin-spark-in-")
    atexit.register(shutil.rmtree, scratch, True)
    pq.write_table(table, f"{scratch}/part-0.parquet")
    return ss.read.schema(spark_schema(frame)).parquet(scratch)
