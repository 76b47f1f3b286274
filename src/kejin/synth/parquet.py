"""``kejin synth --to-parquet DIR``: a synthetic region written straight to a snapshot, in parts.

The scale path (``--engine spark --snapshot DIR``) has to be exercised on tens of millions of
firms without a database holding them. The region is generated ``chunk`` firms at a time by the
same generator as ``kejin synth`` (:func:`kejin.synth.model.generate`), each part written as it
is made and dropped, so memory stays that of one chunk whatever the size. Parts use the
snapshot layout and manifest of ``kejin export snapshot`` (schema revision, rows, SHA-256 of each
part, data-pull ids), so a reader cannot tell the two apart.

Keys stay distinct across parts: firms are numbered on from the parts before under one serial
offset (so their USCCs differ), and qualification / financing ids and loan contract numbers are
shifted past the previous parts'.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from kejin.access.audit import utcnow
from kejin.frames import table_schema
from kejin.migrate import script_heads
from kejin.scale import snapshot
from kejin.synth.model import AS_OF, generate

#: Firms generated and written at a time: ~1.5 GB peak for the generator and its frames.
CHUNK = 500_000
#: Tables that hold the same rows in every part: written once, from the first.
ONCE = ("institutions", "products")


def _shift_ids(df: pl.DataFrame, after: int) -> pl.DataFrame:
    return df.with_columns(pl.col("id") + after) if after else df


def _shift_contracts(df: pl.DataFrame, after: int) -> pl.DataFrame:
    """``BANK-YEAR-00000012`` → the sequence moved past the previous parts' loans."""
    if not after:
        return df
    c = pl.col("contract_no")
    seq = (c.str.tail(8).cast(pl.Int64) + after).cast(pl.String).str.zfill(8)
    return df.with_columns(pl.concat_str(c.str.head(-8), seq).alias("contract_no"))


def write_region(
    out: Path,
    firms: int,
    seed: int,
    chunk: int = CHUNK,
    as_of: dt.date = AS_OF,
    years: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Write a region of ``firms`` firms from ``seed`` as a snapshot under ``out``; return its
    manifest. ``progress(firms_done, firms)`` after each part. ``out`` must be new or empty;
    the manifest is written last, so a run that stops leaves no readable snapshot."""
    snapshot.refuse_used(out)
    out.mkdir(parents=True, exist_ok=True)
    taken = utcnow()
    tables = {t.name: t for t in snapshot.TABLES}
    for name in tables:
        (out / name).mkdir()
    parts: dict[str, list[dict[str, Any]]] = {name: [] for name in tables}
    after = {"qualifications": 0, "financing_events": 0, "loans": 0}
    pulls: pl.DataFrame | None = None
    # One serial offset for every part (drawn from the seed), firms numbered on across parts.
    offset = int(np.random.default_rng([seed, 31]).integers(0, 31**8))
    for k, first in enumerate(range(0, firms, chunk)):
        n = min(chunk, firms - first)
        region = generate(n, seed + k, as_of, years, first=first, serial_offset=offset).tables
        region["qualifications"] = _shift_ids(region["qualifications"], after["qualifications"])
        region["financing_events"] = _shift_ids(
            region["financing_events"], after["financing_events"]
        )
        region["loans"] = _shift_contracts(region["loans"], after["loans"])
        region["loan_statuses"] = _shift_contracts(region["loan_statuses"], after["loans"])
        after["qualifications"] += region["qualifications"].height
        after["financing_events"] += region["financing_events"].height
        after["loans"] += region["loans"].height
        # The data pulls count every part's rows: summed as parts are made.
        p = region["data_pulls"]
        pulls = p if pulls is None else pulls.with_columns(
            (pl.col("rows_inserted") + p["rows_inserted"]).alias("rows_inserted")
        )  # fmt: skip
        for name, table in tables.items():
            # Tables the generator does not make (the whitelist's versions, the LPR table: a
            # region straight to Parquet has had no refresh or import) are written empty, once.
            if name == "data_pulls" or ((name in ONCE or name not in region) and k > 0):
                continue
            schema = table_schema(table)
            frame = region.get(name, pl.DataFrame(schema=schema))
            frame = frame.select(
                pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                for c, t in schema.items()
            )
            parts[name].append(snapshot.write_part(out, name, len(parts[name]), frame))
        del region
        if progress:
            progress(first + n, firms)
    assert pulls is not None
    schema = table_schema(tables["data_pulls"])
    pulls = pulls.select(pl.col(c).cast(t) for c, t in schema.items())
    parts["data_pulls"].append(snapshot.write_part(out, "data_pulls", 0, pulls))
    manifest_tables = {
        name: snapshot.table_entry(list(table_schema(t)), parts[name]) for name, t in tables.items()
    }
    return snapshot.write_manifest(out, taken, sorted(script_heads()), manifest_tables)
