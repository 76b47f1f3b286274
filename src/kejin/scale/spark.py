"""Apache Spark as the distributed engine of kejin's batch work, with kejin's kernels inside it.

A rule is written once, as a Polars kernel. Spark moves the data (reading Parquet or JDBC,
partitioning, shuffling peer groups together, writing results) and hands each partition or group
to the kernel as Arrow batches (``mapInArrow``, ``groupBy(...).applyInArrow``): no rule is
translated into Spark SQL, so the local engine and Spark cannot drift apart (docs/scale.md).

PySpark is an optional extra (``pip install kejin[spark]``) and needs a Java runtime; nothing
here is imported by the rest of kejin unless a command is asked for ``--engine spark``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
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
    return (
        b.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


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
            out = kernel(pl.from_arrow(batch))  # type: ignore[arg-type]
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
        out = kernel(pl.from_arrow(table))  # type: ignore[arg-type]
        return arrow(out.select(names), out_schema)

    return sdf.groupBy(key).applyInArrow(run, out_schema)


def to_polars(sdf: DataFrame) -> pl.DataFrame:
    """Collect a (small) Spark result on the driver as a Polars frame, through Arrow."""
    return pl.from_arrow(sdf.toArrow())  # type: ignore[return-value]
