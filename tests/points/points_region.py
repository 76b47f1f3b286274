"""A small deterministic region for points and whitelist tests (the synth area builds the real one).

Firms get valid USCCs, a stage, a chain and two years of indicators whose values rise with a
hidden ``talent`` so scores have something to find.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl
from sqlalchemy import Engine

from kejin.db import transaction
from kejin.frames import write_frame
from kejin.ids import org_code_check_char, uscc_check_char
from kejin.registry.tables import (
    AnnualIndicator,
    DataPull,
    Enterprise,
    FinancingEvent,
    Qualification,
)

STAGES = ["seed", "startup", "growth", "mature"]
CHAINS = ["information", "biomedicine", "new_energy", "equipment"]
YEAR = 2025


def uscc(i: int) -> str:
    org8 = f"{i:08d}"
    body = "91320700" + org8 + org_code_check_char(org8)
    return body + uscc_check_char(body)


def money(x: np.ndarray) -> pl.Series:
    return pl.Series([Decimal(int(v)) for v in x], dtype=pl.Decimal(18, 2))


def build_region(engine: Engine, n: int = 200, seed: int = 7) -> list[str]:
    """Insert ``n`` firms with indicators for YEAR-1 and YEAR; returns their USCCs (sorted)."""
    rng = np.random.default_rng(seed)
    codes = [uscc(i + 1) for i in range(n)]
    talent = rng.normal(size=n)
    now = dt.datetime(2026, 1, 1)
    with transaction(engine) as s:
        pull = DataPull(kind="test", department="most", pulled_at=now, loaded_at=now)
        s.add(pull)
        s.flush()
        pid = pull.id
        conn = s.connection()
        firms = pl.DataFrame(
            {
                "uscc": codes,
                "name": [f"测试企业{i}" for i in range(n)],
                "region_code": ["320706"] * n,
                "industry_code": ["C3562"] * n,
                "industry_chain": [CHAINS[i % 4] for i in range(n)],
                "founded_on": [dt.date(2015, 1, 1)] * n,
                "stage": [STAGES[i % 4] for i in range(n)],
                "staff": [50] * n,
                "listing_board": ["none"] * n,
                "dishonest": [i % 50 == 7 for i in range(n)],
                "deregistered": [i % 97 == 3 for i in range(n)],
                "abnormal_operation": [False] * n,
                "pull_id": [pid] * n,
            }
        )
        write_frame(conn, Enterprise.__table__, firms)
        for year, drift in ((YEAR - 1, 0.0), (YEAR, 0.1)):
            t = talent + drift + rng.normal(scale=0.3, size=n)
            revenue = np.exp(15 + 0.8 * t + rng.normal(scale=0.5, size=n)).round()
            rows = {
                "uscc": codes,
                "year": [year] * n,
                "revenue": money(revenue),
                "profit": money((revenue * rng.normal(0.05, 0.05, n)).round()),
                "total_assets": money((revenue * 1.5).round()),
                "total_liabilities": money((revenue * rng.uniform(0.2, 1.2, n)).round()),
                "total_cost": money((revenue * 0.9).round()),
                "rd_expense": money((revenue * np.clip(0.05 + 0.03 * t, 0.001, 0.5)).round()),
                "rd_staff": np.clip(10 + 5 * t, 0, 50).astype(int),
                "staff": [50] * n,
                "high_tech_revenue": money((revenue * 0.5).round()),
                "invention_patents": rng.poisson(np.exp(0.5 + 0.5 * t)),
                "utility_patents": rng.poisson(3, n),
                "design_patents": rng.poisson(1, n),
                "software_copyrights": rng.poisson(2, n),
                "pct_applications": rng.poisson(0.3, n),
                "tech_contract_turnover": money((revenue * rng.uniform(0, 0.1, n)).round()),
                "graduates_hired": rng.poisson(3, n),
                "awards": rng.poisson(np.exp(-1 + 0.5 * t)),
                "science_programmes": rng.poisson(np.exp(-0.5 + 0.5 * t)),
                "rd_platforms": rng.poisson(0.5, n),
                "standards_led": rng.poisson(0.3, n),
                "tax_paid": money((revenue * 0.03).round()),
                "tax_credit_grade": [("D" if i % 41 == 5 else "A") for i in range(n)],
            }
            df = pl.DataFrame(rows)
            if year == YEAR:  # a few missing values to exercise the missing-value rules
                df = df.with_columns(
                    pl.when(pl.int_range(pl.len()) % 23 == 0)
                    .then(None)
                    .otherwise(pl.col("rd_staff"))
                    .alias("rd_staff")
                )
            write_frame(conn, AnnualIndicator.__table__, df)
        quals = pl.DataFrame(
            {
                "uscc": codes[::5],
                "kind": ["hnte"] * len(codes[::5]),
                "certificate_no": [f"GR{i:06d}" for i in range(len(codes[::5]))],
                "valid_from": [dt.date(2023, 1, 1)] * len(codes[::5]),
                "valid_to": [
                    dt.date(2025, 12, 31) if i % 2 else dt.date(2026, 12, 31)
                    for i in range(len(codes[::5]))
                ],
                "source": ["most"] * len(codes[::5]),
            }
        )
        write_frame(conn, Qualification.__table__, quals)
        fin = pl.DataFrame(
            {
                "uscc": codes[::7],
                "kind": ["vc"] * len(codes[::7]),
                "occurred_on": [dt.date(YEAR, 6, 1)] * len(codes[::7]),
                "amount": money(np.full(len(codes[::7]), 5_000_000)),
                "investor": ["测试创投"] * len(codes[::7]),
            }
        )
        write_frame(conn, FinancingEvent.__table__, fin)
    return sorted(codes)
