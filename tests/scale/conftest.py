"""Spark tests run on ``local[2]`` (nothing outside this machine) and skip, with the reason, where
PySpark or Java is missing; `make test` installs both (the ``spark`` extra, Debian's JRE)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kejin.scale import spark


@pytest.fixture(scope="session")
def spark_session() -> Iterator[object]:
    why = spark.unavailable_reason()
    if why is not None:
        pytest.skip(f"Spark tests skipped: {why}")
    ss = spark.session("local[2]", app="kejin tests")
    ss.conf.set("spark.sql.shuffle.partitions", "4")
    yield ss
    ss.stop()
