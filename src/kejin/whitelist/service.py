"""Whitelist operations against the store: refresh a version, diff two, push a file, read the log."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from kejin.access import service as access
from kejin.access.rules import Principal, authorize
from kejin.asof import data_date
from kejin.db import joined, transaction
from kejin.errors import NotFoundError, Problem, ValidationError
from kejin.frames import read_frame, table_schema, write_frame
from kejin.lending.tables import Institution, Loan, LoanStatus
from kejin.points.service import latest_run, run_results
from kejin.points.tables import ScoreRun
from kejin.registry.tables import AnnualIndicator, Enterprise, Qualification
from kejin.whitelist import kernels
from kejin.whitelist.rules import Rules, load_rules
from kejin.whitelist.tables import WhitelistEntry, WhitelistPush, WhitelistVersion

if TYPE_CHECKING:
    from kejin.scale.jdbc import Source

FORMATS = ("xlsx", "csv", "json")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


FIRM_COLUMNS = ["uscc", "name", "stage", "industry_chain", "region_code", "listing_board",
                "dishonest", "deregistered", "abnormal_operation"]  # fmt: skip
QUAL_COLUMNS = ["uscc", "kind", "valid_from", "valid_to"]
INDICATOR_COLUMNS = ["uscc", "staff", "rd_staff", "revenue", "total_assets", "rd_expense",
                     "total_cost", "invention_patents", "pct_applications", "utility_patents",
                     "design_patents", "software_copyrights", "tax_credit_grade"]  # fmt: skip
LOAN_COLUMNS = ["contract_no", "uscc"]
STATUS_COLUMNS = ["contract_no", "month", "balance", "days_past_due"]
POINTS_SCHEMA = {"uscc": pl.String, "total": pl.Float64, "list_id": pl.String}


def points_of(
    engine: Engine, points_system: str, run_id: int | None
) -> tuple[int | None, pl.DataFrame]:
    """The points run the rules read (``run_id``, else the latest of ``points_system``; none
    when there is no run yet) and its totals and lists."""
    if run_id is None:
        try:
            run = latest_run(engine, points_system)
        except NotFoundError:
            run = None
    else:
        with transaction(engine) as s:
            run = s.get(ScoreRun, run_id)
            if run is None:
                raise NotFoundError(
                    "评分批次不存在",
                    "no such score run",
                    [Problem("不存在", "not found", field="run", value=run_id)],
                )
            s.expunge(run)
    if run is None:
        return None, pl.DataFrame(schema=POINTS_SCHEMA)
    return run.id, run_results(engine, run.id).select(*POINTS_SCHEMA)


def gather(
    engine: Engine, as_of: dt.date, points_system: str, run_id: int | None
) -> dict[str, Any]:
    """Read every frame the refresh kernel needs, as of ``as_of``."""
    ai = AnnualIndicator.__table__
    with engine.connect() as conn:
        firms = read_frame(conn, Enterprise.__table__, FIRM_COLUMNS)
        quals = read_frame(conn, Qualification.__table__, QUAL_COLUMNS)
        year = conn.execute(
            select(func.max(AnnualIndicator.year)).where(AnnualIndicator.year <= as_of.year)
        ).scalar()
        indicators = (
            read_frame(conn, ai, INDICATOR_COLUMNS, where=f"year = {int(year)}")
            if year
            else pl.DataFrame(schema=table_schema(ai, INDICATOR_COLUMNS))
        )
        loans = read_frame(conn, Loan.__table__, LOAN_COLUMNS)
        status = read_frame(
            conn,
            LoanStatus.__table__,
            STATUS_COLUMNS,
            where=f"month <= '{as_of.isoformat()}'",
        )
    run, points = points_of(engine, points_system, run_id)
    return {**derive(as_of, firms, quals, indicators, loans, status, points), "run_id": run}


def derive(
    as_of: dt.date,
    firms: pl.DataFrame,
    quals: pl.DataFrame,
    indicators: pl.DataFrame,
    loans: pl.DataFrame,
    status: pl.DataFrame,
    points: pl.DataFrame,
) -> dict[str, pl.DataFrame]:
    """The refresh kernel's inputs from the registry rows (the indicators of the year the rules
    read; loan months up to ``as_of``). Each firm's inputs come from its own rows only, so the
    Spark engine runs this per bucket of firms (:mod:`kejin.whitelist.scale`)."""
    valid = kernels.valid_qualifications(quals, as_of)
    hnte = valid.filter(pl.col("kind") == "hnte").select("uscc", pl.lit(True).alias("hnte"))
    latest = status.filter(pl.col("month") <= as_of).sort("month").group_by("contract_no").last()
    dpd = (
        latest.filter(pl.col("balance") > 0)
        .join(loans, on="contract_no")
        .group_by("uscc")
        .agg(pl.col("days_past_due").max().alias("max_dpd"))
    )
    return {
        "firms": firms,
        "valid_quals": valid,
        "points": points,
        "tsme_passed": kernels.tsme_from_registry(indicators.drop("tax_credit_grade"), firms, hnte),
        "max_dpd": dpd,
        "tax": indicators.select("uscc", "tax_credit_grade"),
    }


def entries_of(rules: Rules, as_of: dt.date, data: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The version's entries from :func:`derive`'s frames (the whitelist kernel)."""
    return kernels.refresh(
        rules, as_of, data["firms"], data["valid_quals"], data["points"], data["tsme_passed"],
        data["max_dpd"], data["tax"],
    )  # fmt: skip


def entries_sha256(entries: pl.DataFrame) -> str:
    return hashlib.sha256(canonical_csv(entries)).hexdigest()


def canonical_csv(entries: pl.DataFrame, header: bool = True) -> bytes:
    """The canonical CSV that :func:`entries_sha256` hashes; a results import streams it in
    batches (the header with the first only), so both hash the same text."""
    return entries.write_csv(include_header=header, float_precision=4).encode()


def refresh(
    engine: Engine,
    as_of: dt.date | None = None,
    rules_name: str = "default",
    run_id: int | None = None,
    who: str | None = None,
    session: Session | None = None,
    snapshot: Path | Source | None = None,
    master: str | None = None,
) -> dict[str, Any]:
    """Build and store a new whitelist version as of ``as_of`` (default: the data date,
    :func:`kejin.asof.data_date`), unless it would equal the latest version.

    ``session``: stored in the caller's transaction, beside the audit record it writes
    (:func:`kejin.db.joined`); without, in a transaction of its own. ``snapshot``: the registry
    rows are read from that snapshot (or another Spark source, :mod:`kejin.scale.jdbc`) and the
    kernel runs on Spark (``master``); the points run and the version still live in the
    platform's tables. Nothing is stored unless the whole Spark run succeeded (the entries are
    collected before the version is written).
    """
    if as_of is None:
        with engine.connect() as conn:
            as_of = data_date(conn)
    rules, sha = load_rules(rules_name)
    if snapshot is None:
        data = gather(engine, as_of, rules.points_system, run_id)
        score_run = data["run_id"]
    else:
        score_run, points = points_of(engine, rules.points_system, run_id)
    require_points(rules, score_run)
    if snapshot is None:
        entries = entries_of(rules, as_of, data)
    else:
        from kejin.whitelist.scale import entries_on_spark

        entries = entries_on_spark(snapshot, rules, as_of, points, master)
    members = int((entries["status"] == "member").sum())
    tiers = entries.filter(pl.col("status") == "member").group_by("tier").len().sort("tier")
    rules_of = {"id": rules.id, "version": rules.version, "sha256": sha}

    def write(s: Session, version_id: int) -> None:
        write_frame(s.connection(), WhitelistEntry.__table__,
                    entries.with_columns(version_id=pl.lit(version_id)))  # fmt: skip

    return store_version(
        engine, session, as_of, rules_of, score_run, entries_sha256(entries),
        members, entries.height - members, dict(tiers.iter_rows()), who, write,
    )  # fmt: skip


def require_points(rules: Rules, score_run: int | None) -> None:
    """Rules that read points need a points run of their system."""
    if score_run is None and any(r.kind == "points" for r in rules.entry):
        raise NotFoundError(
            f"还没有 {rules.points_system} 的评分，请先运行 kejin points score --system {rules.points_system}",
            f"no {rules.points_system} score run: run `kejin points score --system {rules.points_system}` first",
        )


def store_version(
    engine: Engine,
    session: Session | None,
    as_of: dt.date,
    rules: dict[str, Any],
    score_run: int | None,
    entries_sha: str,
    members: int,
    excluded: int,
    tiers: dict[str, int],
    who: str | None,
    write: Callable[[Session, int], None],
) -> dict[str, Any]:
    """Store a version (``rules``: its rule set's id, version and SHA-256) unless it equals the
    latest; ``write(session, version_id)`` writes its entries, from a frame in memory (a local
    or collected Spark refresh) or streamed from a results directory (``kejin import
    results``). Returns the refresh's summary."""
    summary = {
        "as_of": as_of,
        "rules": rules["id"],
        "rules_version": rules["version"],
        "score_run": score_run,
        "members": members,
        "excluded": excluded,
        "tiers": tiers,
        "entries_sha256": entries_sha,
    }
    with joined(engine, session) as s:
        same = _unchanged(s, rules["sha256"], score_run, entries_sha)
        if same is not None:
            # Nothing a bank would receive differs: a new version would only add noise to the
            # version list and the diff (a daily refresh used to make one per day).
            return {**summary, "version": same.id, "as_of": same.as_of, "unchanged": True}
        version = WhitelistVersion(
            as_of=as_of,
            rules_id=rules["id"],
            rules_version=rules["version"],
            rules_sha256=rules["sha256"],
            score_run_id=score_run,
            members=members,
            entries_sha256=entries_sha,
            created_at=_now(),
            created_by=who or getpass.getuser(),
        )
        s.add(version)
        s.flush()
        write(s, version.id)
        vid = version.id
    return {**summary, "version": vid, "unchanged": False}


def _unchanged(
    s: Session, rules_sha: str, run_id: int | None, entries_sha: str
) -> WhitelistVersion | None:
    """The latest version when a refresh would store the same thing again: same rule set bytes,
    same points run, same entries (the as-of date alone is no change)."""
    latest = s.scalars(
        select(WhitelistVersion).order_by(WhitelistVersion.id.desc()).limit(1)
    ).first()
    if (
        latest is not None
        and latest.rules_sha256 == rules_sha
        and latest.score_run_id == run_id
        and latest.entries_sha256 == entries_sha
    ):
        return latest
    return None


def refresh_sentence(out: dict[str, Any]) -> tuple[str, str]:
    """What a refresh did, in a sentence each language (the CLI and the page say the same)."""
    if out.get("unchanged"):
        return (
            f"名单没有变化，未生成新版本：当前仍为版本 {out['version']}（基准日 {out['as_of']}，入库 {out['members']:,} 家）。",
            f"Nothing changed, so no new version was made: version {out['version']} (as of {out['as_of']}, {out['members']:,} members) stands.",
        )
    return (
        f"已生成白名单版本 {out['version']}（基准日 {out['as_of']}）：入库 {out['members']:,} 家，排除 {out['excluded']:,} 家。",
        f"Whitelist version {out['version']} built (as of {out['as_of']}): {out['members']:,} members, {out['excluded']:,} excluded.",
    )


def _version(engine: Engine, version_id: int) -> WhitelistVersion:
    with transaction(engine) as s:
        v = s.get(WhitelistVersion, version_id)
        if v is None:
            raise NotFoundError(
                "白名单版本不存在",
                "no such whitelist version",
                [Problem("不存在", "not found", field="version", value=version_id)],
            )
        s.expunge(v)
        return v


def entries(engine: Engine, version_id: int) -> pl.DataFrame:
    _version(engine, version_id)
    with engine.connect() as conn:
        return (
            read_frame(conn, WhitelistEntry.__table__, where=f"version_id = {int(version_id)}")
            .drop("version_id")
            .sort("uscc")
        )


def latest_versions(engine: Engine, n: int = 2) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(WhitelistVersion.id).order_by(WhitelistVersion.id.desc()).limit(n)
            ).scalars()
        )


def diff(engine: Engine, a: int, b: int) -> dict[str, Any]:
    rules, _ = load_rules(_version(engine, b).rules_id)
    names = {r.id: (r.zh, r.en) for r in (*rules.entry, *rules.exclusions)} | {
        t.id: (t.zh, t.en) for t in rules.tiers
    }
    d = kernels.diff(entries(engine, a), entries(engine, b))
    counts = d.group_by("change").len().sort("change")
    return {
        "from": a,
        "to": b,
        "counts": dict(counts.iter_rows()),
        "rules": {k: {"zh": v[0], "en": v[1]} for k, v in names.items()},
        "changes": d.to_dicts(),
    }


def push(
    engine: Engine,
    institution: str,
    fmt: str,
    out_dir: Path,
    version_id: int | None = None,
    who: str | None = None,
    session: Session | None = None,
    tick: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Write the version's members (only the rules' push fields) for one bank, or every partner bank
    (``institution='all'``); one file per bank, each logged with its checksum.

    ``session``: the pushes are logged in the caller's transaction, beside its audit record
    (:func:`kejin.db.joined`); without, each in a transaction of its own."""
    if fmt not in FORMATS:
        raise ValidationError(
            "推送格式无效",
            "invalid push format",
            [
                Problem(
                    "应为 xlsx/csv/json", "expected xlsx, csv or json", field="format", value=fmt
                )
            ],
        )
    if version_id is None:
        latest = latest_versions(engine, 1)
        if not latest:
            raise NotFoundError(
                "还没有白名单版本，请先 refresh",
                "no whitelist version yet: run `kejin whitelist refresh`",
            )
        version_id = latest[0]
    version = _version(engine, version_id)
    rules, _ = load_rules(version.rules_id)
    with transaction(engine) as s:
        if institution == "all":
            targets = list(
                s.scalars(
                    select(Institution.id)
                    .where(Institution.partner_bank.is_(True))
                    .order_by(Institution.id)
                )
            )
        else:
            targets = [institution] if s.get(Institution, institution) is not None else []
        if not targets:
            raise NotFoundError(
                "机构不存在或没有合作银行",
                "no such institution (or no partner bank)",
                [Problem("不存在", "not found", field="institution", value=institution)],
            )
    data = entries(engine, version_id).filter(pl.col("status") == "member")
    fields = list(rules.push_fields)
    out = data.select(fields).sort("uscc")
    out_dir.mkdir(parents=True, exist_ok=True)
    from kejin import exports

    log = []
    for i, inst in enumerate(targets):
        if tick is not None:
            tick(f"推送 / pushing {inst}", i, len(targets))
        path = out_dir / f"whitelist-v{version_id}-{inst}.{fmt}"
        if fmt == "csv":
            exports.write_csv(out, path, float_precision=2)
        elif fmt == "json":
            payload = {
                "version": version_id,
                "as_of": version.as_of.isoformat(),
                "institution": inst,
                "fields": fields,
                "firms": out.to_dicts(),
            }
            path.write_text(
                json.dumps(payload, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
            )
        else:
            book = exports.Book()  # fixed timestamps: the checksum depends on content only
            sheet = book.sheet(f"v{version_id}")
            sheet.row(fields)
            sheet.rows(out.iter_rows())
            book.save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        rec = WhitelistPush(
            version_id=version_id,
            institution_id=inst,
            format=fmt,
            file_name=str(path),
            sha256=digest,
            rows=out.height,
            fields=",".join(fields),
            pushed_at=_now(),
            pushed_by=who or getpass.getuser(),
        )
        with joined(engine, session) as s:
            s.add(rec)
            s.flush()
            log.append(
                {
                    "push": rec.id,
                    "version": version_id,
                    "institution": inst,
                    "file": str(path),
                    "sha256": digest,
                    "rows": out.height,
                    "fields": fields,
                }
            )
    if tick is not None:
        tick("推送完成 / pushed", len(targets), len(targets))
    return log


def refresh_by(
    s: Session,
    engine: Engine,
    p: Principal,
    as_of: dt.date | None = None,
    rules_name: str = "default",
    run_id: int | None = None,
    snapshot: Path | Source | None = None,
    master: str | None = None,
) -> dict[str, Any]:
    """A person's refresh (web button or ``kejin whitelist refresh --who``): permitted by the rule
    table, the version and its audit record in the caller's transaction."""
    authorize(s, p, "whitelist.refresh")
    out = refresh(engine, as_of, rules_name, run_id, p.username, s, snapshot, master)
    access.log(s, p, "whitelist.refresh", "whitelist_version", out["version"], after=out)
    return out


def push_by(
    s: Session,
    engine: Engine,
    p: Principal,
    institution: str,
    fmt: str,
    out_dir: Path,
    version_id: int | None = None,
    tick: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """A person's push (web or ``kejin whitelist push --who``) to one bank or every partner bank:
    permitted by the rule table; each push logged and audited in the caller's transaction, so a
    push is never kept without its record."""
    authorize(s, p, "whitelist.push")
    log = push(engine, institution, fmt, out_dir, version_id, who=p.username, session=s, tick=tick)
    for rec in log:
        access.log(
            s,
            p,
            "whitelist.push",
            "institution",
            rec["institution"],
            after={k: rec[k] for k in ("push", "version", "sha256", "rows")},
        )
    return log


def push_log(engine: Engine, limit: int = 50) -> list[dict[str, Any]]:
    with transaction(engine) as s:
        rows = s.scalars(select(WhitelistPush).order_by(WhitelistPush.id.desc()).limit(limit)).all()
        return [
            {"push": r.id, "version": r.version_id, "institution": r.institution_id, "format": r.format,
             "file": r.file_name, "sha256": r.sha256, "rows": r.rows, "pushed_at": r.pushed_at, "pushed_by": r.pushed_by}
            for r in rows
        ]  # fmt: skip
