"""Results directories: what a Spark run writes instead of collecting its rows on the driver.

At tens of millions of firms no single process should hold a run's results, so a Spark run given
``--results-dir DIR`` has its executors write the result rows as Parquet parts under
``DIR/<table>/`` and the driver writes ``DIR/manifest.json``: the command, the engine, where its
input came from (the snapshot's manifest hash and data pulls, or the JDBC read), the run's
parameters, this kejin's schema revision, and each part's rows and SHA-256.

``kejin import results DIR`` then verifies the whole directory (format, schema revision, every
part present, unchanged and of the stated rows and columns) before it writes anything, and
streams the parts into the platform's tables in one transaction, a batch at a time, through the
same services and audit records as a run stored by the command itself
(:func:`kejin.points.scale.import_run`, :func:`kejin.whitelist.scale.import_version`). The
platform's tables stay the system of record; nothing is written unless the whole run succeeded
(the manifest is written last, after every part) and the whole directory checks out.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from kejin.access.audit import utcnow
from kejin.errors import Problem, ValidationError
from kejin.migrate import script_heads
from kejin.scale.snapshot import refuse_used

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: The layout's version: an importer refuses a directory written in another layout.
FORMAT = "kejin-results/1"
MANIFEST = "manifest.json"
#: Rows per batch streamed from a part into the database (bounded memory, whatever the run).
BATCH_ROWS = 100_000
#: At most this many rows a part file (as a snapshot's parts): a task's output is split.
PART_ROWS = 1_000_000

#: What each command's results are and where they are imported: the command → (tables written,
#: "module:function" that stores them, or None where the local command stores nothing either).
COMMANDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "points score": (("points_results",), "kejin.points.scale:import_run"),
    "whitelist refresh": (("whitelist_entries",), "kejin.whitelist.scale:import_version"),
    # A local `credit score` writes a file and stores nothing in the database: its Spark run's
    # results directory is verified like the others but has no table to go into.
    "credit score": (("scores",), None),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def directory(out: Path) -> Iterator[Path]:
    """The results directory ``out`` for a run to write in: new or empty (never mixed with an
    older one), and removed whole if the run fails — its manifest is written last, so a failed
    run never leaves a directory that looks like results."""
    refuse_used(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield out
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def write_table(sdf: DataFrame, out: Path, table: str) -> dict[str, Any]:
    """Have the executors write ``sdf`` as Parquet parts under ``out/table``; its manifest entry.

    Spark names parts ``part-<partition>-<job>-c<file>``, so a frame sorted before the write
    (``orderBy``) reads back in that order part by part, in (partition, file) order; a task
    writes at most ``PART_ROWS`` rows a file. Spark's own markers (``_SUCCESS``, ``.crc`` files) are
    removed: the manifest is the only index of the parts."""
    import pyarrow.parquet as pq

    from kejin.scale.spark import kernel_errors

    where = out / table
    with kernel_errors():
        sdf.write.option("maxRecordsPerFile", PART_ROWS).parquet(str(where))
    for extra in [*where.glob(".*.crc"), where / "_SUCCESS"]:
        extra.unlink(missing_ok=True)
    parts = [
        {"file": f"{table}/{f.name}", "rows": pq.read_metadata(f).num_rows, "sha256": sha256(f)}
        for f in sorted(where.glob("part-*.parquet"), key=_part_order)
    ]
    return {"rows": sum(p["rows"] for p in parts), "columns": list(sdf.columns), "parts": parts}


def _part_order(f: Path) -> tuple[int, int]:
    """(partition, file) of a Spark part ``part-00003-<uuid>-c001.snappy.parquet``."""
    name = f.name.split(".")[0]
    return int(name.split("-")[1]), int(name.rsplit("-c", 1)[1])


def write_manifest(
    out: Path,
    command: str,
    source: dict[str, Any],
    parameters: dict[str, Any],
    tables: dict[str, Any],
) -> dict[str, Any]:
    """Write ``manifest.json`` last, once every part is on disk: a directory without it is an
    unfinished run and is refused on import."""
    manifest = {
        "format": FORMAT,
        "command": command,
        "engine": "spark",
        "created_at": utcnow().isoformat(),
        "schema_heads": sorted(script_heads()),
        "source": source,
        "parameters": parameters,
        "tables": tables,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str))
    return manifest


def _refuse(zh: str, en: str, problems: list[Problem]) -> ValidationError:
    return ValidationError(f"结果目录无法导入：{zh}", f"the results directory cannot be imported: {en}",
                           problems)  # fmt: skip


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of a results directory, after checking everything an import relies on:
    the layout version, this kejin's schema revision, a known command, and that each part is
    present, has the SHA-256, the row count and the columns the manifest states. Every problem
    is named (file, field, reason) and nothing has been written when this refuses."""
    path = out / MANIFEST
    if not path.is_file():
        raise _refuse("缺少 manifest.json（运行未完成，或不是结果目录）",
                      "no manifest.json (an unfinished run, or not a results directory)",
                      [Problem("缺少清单文件", "manifest missing", file=str(path))])  # fmt: skip
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise _refuse("manifest.json 不是有效的 JSON", "manifest.json is not valid JSON",
                      [Problem(str(e), str(e), file=str(path))]) from None  # fmt: skip
    if manifest.get("format") != FORMAT:
        raise _refuse("结果目录格式版本不符", "the results directory is of another format version",
                      [Problem(f"应为 {FORMAT}", f"expected {FORMAT}", file=str(path),
                               field="format", value=manifest.get("format"))])  # fmt: skip
    heads = sorted(script_heads())
    if manifest.get("schema_heads") != heads:
        # Rows of another schema revision could miss columns the tables need or carry ones they
        # no longer have: refused rather than half-loaded.
        raise _refuse(
            "数据库结构版本不一致，请用当前版本重新运行",
            "written by another schema version; run it again with this version",
            [Problem(f"结果为 {manifest.get('schema_heads')}，本程序为 {heads}",
                     f"results at {manifest.get('schema_heads')}, this kejin at {heads}",
                     file=str(path), field="schema_heads")],
        )  # fmt: skip
    command = manifest.get("command")
    if command not in COMMANDS:
        raise _refuse("未知的命令", "unknown command",
                      [Problem(f"应为 {'、'.join(COMMANDS)}", f"expected one of {', '.join(COMMANDS)}",
                               file=str(path), field="command", value=command)])  # fmt: skip
    tables = manifest.get("tables") or {}
    bad = [Problem("缺少此表", "table missing", file=str(path), field=f"tables.{t}")
           for t in COMMANDS[command][0] if t not in tables]  # fmt: skip
    for name, entry in tables.items():
        bad += _check_table(out, name, entry)
    if bad:
        raise _refuse("文件缺失、被改动或与清单不符", "parts missing, changed or unlike the manifest",
                      bad)  # fmt: skip
    return manifest


def _check_table(out: Path, name: str, entry: dict[str, Any]) -> list[Problem]:
    import pyarrow.parquet as pq

    bad = []
    for part in entry.get("parts", []):
        f = out / part["file"]
        if not f.is_file():
            bad.append(Problem("分片文件缺失", "part missing", file=str(f)))
            continue
        if sha256(f) != part["sha256"]:
            bad.append(Problem("文件校验和不符（文件被改动或损坏）",
                               "checksum mismatch (the file was changed or damaged)",
                               file=str(f), field="sha256"))  # fmt: skip
            continue
        try:
            meta = pq.read_schema(f)
            rows = pq.read_metadata(f).num_rows
        except Exception as e:  # any unreadable file is named, not a trace
            bad.append(Problem(f"不是可读的 Parquet 文件：{e}", f"not a readable Parquet file: {e}",
                               file=str(f)))  # fmt: skip
            continue
        if rows != part["rows"]:
            bad.append(Problem(f"行数为 {rows}，清单为 {part['rows']}",
                               f"{rows} rows, the manifest says {part['rows']}",
                               file=str(f), field="rows"))  # fmt: skip
        if list(meta.names) != entry["columns"]:
            bad.append(Problem("列与清单不符", "columns unlike the manifest", file=str(f),
                               field="columns", value=",".join(meta.names)))  # fmt: skip
    total = sum(p["rows"] for p in entry.get("parts", []))
    if total != entry.get("rows"):
        bad.append(Problem(f"各分片合计 {total} 行，清单为 {entry.get('rows')}",
                           f"parts add up to {total} rows, the manifest says {entry.get('rows')}",
                           file=str(out / MANIFEST), field=f"tables.{name}.rows"))  # fmt: skip
    return bad


def batches(
    out: Path, manifest: dict[str, Any], table: str, columns: list[str] | None = None
) -> Iterator[pl.DataFrame]:
    """The rows of ``table``, part by part in the manifest's order, ``BATCH_ROWS`` at a time:
    never more than one batch in memory, whatever the size of the run."""
    import pyarrow.parquet as pq

    for part in manifest["tables"][table]["parts"]:
        for batch in pq.ParquetFile(out / part["file"]).iter_batches(BATCH_ROWS, columns=columns):
            yield pl.from_arrow(batch)  # type: ignore[misc]


def scan(out: Path, manifest: dict[str, Any], table: str) -> pl.LazyFrame:
    """``table`` as one lazy frame over its parts (summaries computed without loading it)."""
    files = [str(out / p["file"]) for p in manifest["tables"][table]["parts"]]
    return pl.scan_parquet(files)


def import_results(s: Any, engine: Any, p: Any, out: Path, dry_run: bool = False) -> dict[str, Any]:
    """Verify a results directory and store it as its command stores a run, in the caller's
    transaction ``s`` (with its audit record, as principal ``p``). ``dry_run``: verify and count
    only. A command whose local run stores nothing (``credit score``) is refused unless dry."""
    manifest = read_manifest(out)
    command = manifest["command"]
    rows = {t: e["rows"] for t, e in manifest["tables"].items()}
    head = {"command": command, "results": str(out), "rows": rows,
            "manifest_sha256": sha256(out / MANIFEST)}  # fmt: skip
    if dry_run:
        return {**head, "dry_run": True}
    target = COMMANDS[command][1]
    if target is None:
        raise _refuse(
            f"{command} 的结果不存入数据库（本机引擎同样只写文件），请直接读取其 Parquet 分片",
            f"{command} results are not stored in the database (the local engine writes a file "
            "too); read its Parquet parts directly",
            [Problem("没有对应的数据表", "no table for these results", file=str(out / MANIFEST),
                     field="command", value=command)],
        )  # fmt: skip
    module, func = target.split(":")
    store = getattr(importlib.import_module(module), func)
    return {**head, **store(s, engine, p, out, manifest, head)}
