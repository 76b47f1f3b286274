"""Needs and products through their lifecycles; every bad input refused by name, nothing changed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from kejin.access.rules import Forbidden
from kejin.db import transaction
from kejin.errors import ConflictError, ValidationError
from kejin.lending.tables import Product
from kejin.matching import params, products, service
from kejin.matching.service import NeedIn
from kejin.matching.tables import Need, NeedEvent, ProductVersion

from .conftest import F1, Market, ip_terms

GOOD = NeedIn(
    amount=Decimal("3000000"), term_months=12, purpose="研发", guarantee_offered=["ip_pledge"]
)


def _post(m: Market, n: NeedIn = GOOD, **kw: object) -> int:
    with transaction(m.engine) as s:
        return service.post(s, m.who("ent"), F1, n, **kw).id  # type: ignore[arg-type]


def _count(m: Market, table: type) -> int:
    with transaction(m.engine) as s:
        return s.scalar(select(func.count()).select_from(table))


def _refused(m: Market, fn, exc: type = ValidationError) -> Exception:  # type: ignore[no-untyped-def]
    before = (_count(m, Need), _count(m, NeedEvent), m.audit_count(), _count(m, ProductVersion))
    with pytest.raises(exc) as e, transaction(m.engine) as s:
        fn(s)
    after = (_count(m, Need), _count(m, NeedEvent), m.audit_count(), _count(m, ProductVersion))
    assert after == before, "a refused request changed something"
    return e.value


def test_full_lifecycle_dated_and_audited(market: Market) -> None:
    m = market
    need = _post(m)
    audit0 = m.audit_count("match.need.")
    with transaction(m.engine) as s:
        service.take(s, m.who("bank"), need, product_id="BKA-IP1")
    with transaction(m.engine) as s:
        service.review(s, m.who("bank"), need)
    with transaction(m.engine) as s:
        service.decide(s, m.who("bank"), need, approve=True)
    with transaction(m.engine) as s:
        service.disburse(s, m.who("bank"), need, amount=Decimal("2500000"))
    with transaction(m.engine) as s:
        service.close(s, m.who("bank"), need)
        hist = service.history(s, m.who("ent"), need)
        n = service.get(s, need)
        assert n.state == "closed" and n.disbursed_amount == Decimal("2500000.00")
        assert n.exclusive_until == params.add_working_days(
            n.taken_at.date(), int(params.value("exclusive_working_days", n.taken_at.date()))
        )
    assert [(h["from"], h["to"]) for h in hist] == [
        (None, "draft"),
        ("draft", "published"),
        ("published", "taken"),
        ("taken", "first_review"),
        ("first_review", "approved"),
        ("approved", "disbursed"),
        ("disbursed", "closed"),
    ]
    assert all(h["at"] is not None and h["by"] for h in hist)
    # one audit event per transition after the post (take, review, approve, disburse, close)
    assert m.audit_count("match.need.") - audit0 == 5


@pytest.mark.parametrize(
    ("field", "need"),
    [
        ("amount", NeedIn(amount=Decimal("0"), term_months=12, purpose="x")),
        ("amount", NeedIn(amount=Decimal("-5"), term_months=12, purpose="x")),
        ("term_months", NeedIn(amount=Decimal("1"), term_months=0, purpose="x")),
        ("term_months", NeedIn(amount=Decimal("1"), term_months=361, purpose="x")),
        (
            "max_rate",
            NeedIn(amount=Decimal("1"), term_months=12, purpose="x", max_rate=Decimal("0.2")),
        ),
        (
            "guarantee_offered",
            NeedIn(amount=Decimal("1"), term_months=12, purpose="x", guarantee_offered=["gold"]),
        ),
    ],
)
def test_bad_need_is_refused_naming_the_field(market: Market, field: str, need: NeedIn) -> None:
    err = _refused(market, lambda s: service.post(s, market.who("ent"), F1, need))
    assert [p.field for p in err.problems] == [field]
    assert err.problems[0].reason_zh and err.problems[0].reason_en


def test_rate_cap_is_the_parameter_with_its_source(market: Market) -> None:
    cap = params.rate_cap(datetime.now().date())
    assert cap == Decimal(f"{4 * params.value('lpr_1y', datetime.now().date()):.6f}")
    just_above = cap + Decimal("0.000001")
    err = _refused(market, lambda s: service.post(s, market.who("ent"), F1, NeedIn(
        amount=Decimal("1"), term_months=12, purpose="x", max_rate=just_above)))  # fmt: skip
    assert err.problems[0].document and "民间借贷" in err.problems[0].document
    _post(market, NeedIn(amount=Decimal("1"), term_months=12, purpose="x", max_rate=cap))


def test_decline_without_reason_is_refused(market: Market) -> None:
    need = _post(market)
    with transaction(market.engine) as s:
        service.take(s, market.who("bank"), need)
    for reason in (None, "no_such_reason"):
        err = _refused(
            market,
            lambda s, r=reason: service.decide(
                s, market.who("bank"), need, approve=False, reason=r
            ),
        )
        assert err.problems[0].field == "reason"
    with transaction(market.engine) as s:
        assert (
            service.decide(s, market.who("bank"), need, approve=False, reason="revenue").state
            == "declined"
        )


def test_take_refused_on_withdrawn_expired_and_taken(market: Market) -> None:
    m = market
    withdrawn, expired, taken = _post(m), _post(m), _post(m)
    with transaction(m.engine) as s:
        service.withdraw(s, m.who("ent"), withdrawn)
        service.get(s, expired).expires_on = datetime.now().date() - timedelta(days=1)
    with transaction(m.engine) as s:
        assert service.redispatch(s, m.who("gov"))["expired"] == [expired]
    with transaction(m.engine) as s:
        service.take(s, m.who("bankb"), taken)
    for need, state in ((withdrawn, "withdrawn"), (expired, "expired")):
        err = _refused(m, lambda s, n=need: service.take(s, m.who("bank"), n), ConflictError)
        assert err.problems[0].value == state
    err = _refused(m, lambda s: service.take(s, m.who("bank"), taken), ConflictError)
    # the holder named as a person reads it (its id stays in the problem for the API)
    assert "乙银行连云港分行" in err.reason_zh and "乙银行连云港分行" in err.reason_en
    assert err.problems[0].value == "BKB"


def test_only_the_holder_decides(market: Market) -> None:
    need = _post(market)
    with transaction(market.engine) as s:
        service.take(s, market.who("bankb"), need)
    _refused(market, lambda s: service.decide(s, market.who("bank"), need, approve=True), Forbidden)


def test_untaken_need_past_sla_is_flagged_once_and_lapsed_take_released(market: Market) -> None:
    m = market
    late, held = _post(m), _post(m)
    with transaction(m.engine) as s:
        service.take(s, m.who("bank"), held)
    later = datetime.now() + timedelta(days=14)
    with transaction(m.engine) as s:
        res = service.redispatch(s, m.who("gov"), now=later)
    assert res == {"flagged": [late], "expired": [], "released": [held]}
    with transaction(m.engine) as s:
        assert service.redispatch(s, m.who("gov"), now=later)["flagged"] == []
        assert (
            service.get(s, held).state == "published"
            and service.get(s, held).institution_id is None
        )
        assert service.get(s, late).flagged_at is not None


def test_product_maker_cannot_approve_and_goes_live_on_a_second_person(market: Market) -> None:
    m = market
    with transaction(m.engine) as s:
        v = products.draft(
            s,
            m.who("bank"),
            ip_terms(name="知识产权质押贷（二期）", spread_max_bp=120),
            submit=True,
        )
        vid = v.id
    _refused(m, lambda s: products.approve(s, m.who("bank"), vid))
    _refused(m, lambda s: products.approve(s, m.who("bankb"), vid), Forbidden)
    with transaction(m.engine) as s:
        products.approve(s, m.who("rev"), vid)
    with transaction(m.engine) as s:
        states = dict(s.execute(select(ProductVersion.version, ProductVersion.state)
                                .where(ProductVersion.product_id == "BKA-IP1")).all())  # fmt: skip
        assert states == {1: "superseded", 2: "live"}
        assert s.get(Product, "BKA-IP1").name == "知识产权质押贷（二期）"


@pytest.mark.parametrize(
    ("field", "terms"),
    [
        ("min_amount", ip_terms(min_amount=Decimal("5000000"), max_amount=Decimal("100"))),
        ("min_term_months", ip_terms(min_term_months=40)),
        ("eligibility", ip_terms(eligibility=["turnover >= 5"])),
        ("eligibility", ip_terms(eligibility=["stage in teenage"])),
        ("spread_max_bp", ip_terms(spread_max_bp=5000)),
        ("guarantee_kinds", ip_terms(guarantee_kinds=["gold"])),
    ],
)
def test_bad_product_is_refused_naming_the_field(market: Market, field: str, terms) -> None:  # type: ignore[no-untyped-def]
    err = _refused(market, lambda s: products.draft(s, market.who("bank"), terms))
    assert field in [p.field for p in err.problems]
