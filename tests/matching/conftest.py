"""A small market on the service tests' world: BKA has a live IP-pledge product, F1 a need."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

os.environ["KEJIN_ARGON2_TIME_COST"] = "1"
os.environ["KEJIN_ARGON2_MEMORY_KIB"] = "8"

from kejin.access import service as access
from kejin.access.rules import Principal, remove_visibility
from kejin.access.settings import get_service_settings
from kejin.access.tables import AuditEvent
from kejin.db import transaction
from kejin.lending.tables import Institution
from kejin.matching import products
from kejin.matching.products import ProductTerms
from service import world as world_mod

get_service_settings.cache_clear()

F1, F2, F3, F4 = world_mod.F1, world_mod.F2, world_mod.F3, world_mod.F4
EXTRA_BANKS = ("BKC", "BKD", "BKE", "BKF")


@dataclass
class Market:
    engine: Engine
    product_id: str = "BKA-IP1"

    def who(self, username: str) -> Principal:
        with transaction(self.engine) as s:
            u = s.scalar(select(access.User).where(access.User.username == username))
            assert u is not None
            return access.principal_of(u)

    def audit_count(self, prefix: str = "match.") -> int:
        with transaction(self.engine) as s:
            return s.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action.like(prefix + "%"))
            )


def ip_terms(**kw: object) -> ProductTerms:
    base = dict(
        product_id="BKA-IP1",
        institution_id="BKA",
        name="知识产权质押贷",
        kind="loan",
        min_amount=Decimal("200000"),
        max_amount=Decimal("10000000"),
        min_term_months=6,
        max_term_months=36,
        spread_min_bp=0,
        spread_max_bp=150,
        guarantee_kinds=["ip_pledge"],
        repayment=["on_demand"],
        eligibility=["hnte", "not dishonest"],
    )
    base.update(kw)
    return ProductTerms(**base)  # type: ignore[arg-type]


@pytest.fixture
def market(engine: Engine) -> Iterator[Market]:
    world_mod.build(engine)
    with transaction(engine) as s:
        for i in EXTRA_BANKS:
            s.add(Institution(id=i, name=f"{i}银行", kind="bank", region_code="320700",
                              partner_bank=False, tech_branch=False))  # fmt: skip
        s.flush()
        for name, inst in [("bank2", "BKA"), *((f"officer_{i}", i) for i in EXTRA_BANKS)]:
            world_mod.add_user(s, None, name, "bank_officer", institution_id=inst)
    m = Market(engine)
    with transaction(engine) as s:
        v = products.draft(s, m.who("bank"), ip_terms(), submit=True)
        products.approve(s, m.who("bank2"), v.id)
    yield m
    remove_visibility("test_push")
