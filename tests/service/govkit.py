"""Rows the government views read, added to the service world: a points run, a whitelist
version, many firms (beyond one Excel screen of 10,000), audit events of several kinds."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Engine, insert

from kejin.db import transaction
from kejin.ids import uscc_check_char
from kejin.points.tables import ScoreResult, ScoreRun
from kejin.registry.tables import Enterprise
from kejin.whitelist.tables import WhitelistEntry, WhitelistVersion

from .world import F1, F2, NAMES


def bulk_uscc(n: int) -> str:
    body = f"91320722MB{n:07d}"
    return body + uscc_check_char(body)


def add_firms(engine: Engine, n: int, stage: str = "seed") -> list[str]:
    """``n`` more firms in 东海县, inserted in one statement (as an import would)."""
    codes = [bulk_uscc(i) for i in range(n)]
    rows = [
        {
            "uscc": c,
            "name": f"东海测试科技有限公司{i:05d}",
            "region_code": "320722",
            "industry_code": "3985",
            "industry_chain": "new_energy",
            "founded_on": date(2018, 1, 1),
            "stage": stage,
            "staff": 10,
            "listing_board": "none",
            "dishonest": False,
            "deregistered": False,
            "abnormal_operation": False,
        }
        for i, c in enumerate(codes)
    ]
    with transaction(engine) as s:
        s.execute(insert(Enterprise), rows)
    return codes


def add_ranking(engine: Engine) -> dict[str, int]:
    """A points run scoring F1 (87.5, A) and F2 (40, C), and a whitelist version with F1 in the
    ``core`` tier and F2 excluded."""
    with transaction(engine) as s:
        run = ScoreRun(system_id="most-v1", system_version="1", system_sha256="0" * 64, year=2025,
                       input_sha256="0" * 64, parameters="{}", firms=2, results_sha256="0" * 64,
                       created_at=datetime(2026, 7, 1))  # fmt: skip
        s.add(run)
        s.flush()
        for code, total, grade in ((F1, 87.5, "A"), (F2, 40.0, "C")):
            s.add(ScoreResult(run_id=run.id, uscc=code, peer_group="g", base=total, bonus=0,
                              total=total, group_size=2, rank_group=1, pct_group=0.5,
                              rank_region=1, pct_region=0.5, grade=grade, detail="{}"))  # fmt: skip
        v = WhitelistVersion(as_of=date(2026, 6, 30), rules_id="default", rules_version="1",
                             rules_sha256="0" * 64, score_run_id=run.id, members=1,
                             entries_sha256="0" * 64, created_at=datetime(2026, 7, 1),
                             created_by="system")  # fmt: skip
        s.add(v)
        s.flush()
        for code, status, tier in ((F1, "member", "core"), (F2, "excluded", None)):
            s.add(WhitelistEntry(version_id=v.id, uscc=code, name=NAMES[code], stage="growth",
                                 industry_chain=None, region_code="320703", status=status,
                                 tier=tier, tier_rule=None, points=None, list_id=None,
                                 entry_rules="", exclusion_rules=""))  # fmt: skip
        return {"run": run.id, "version": v.id}
