"""A small, fully known world for the service tests: two banks, four firms, one of each user.

Relations the security matrix relies on:

* F1 consented (scope ``full``) to bank BKA; the enterprise user ``ent`` belongs to F1.
* F2 is "pushed" to BKA by a test visibility source (what the whitelist area will provide).
* F3 consented (scope ``profile``) to BKB only; F4 has no relation to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from kejin.access import accounts, service
from kejin.access.rules import Principal, add_visibility
from kejin.access.service import SYSTEM
from kejin.access.tables import PRIVILEGED_ROLES, User
from kejin.db import transaction
from kejin.ids import uscc_check_char
from kejin.lending.tables import Institution, Loan, LoanStatus, Product
from kejin.registry.tables import AnnualIndicator, Enterprise, FinancingEvent, Qualification

PASSWORD = "correct-horse-battery-staple"
#: The first password someone else chose (changed to PASSWORD, as at a first login).
FIRST_PASSWORD = "issued-by-the-admin-desk"


def uscc(n: int) -> str:
    body = f"91320700MA{n:07d}"
    return body + uscc_check_char(body)


F1, F2, F3, F4 = (uscc(i) for i in (1, 2, 3, 4))
NAMES = {
    F1: "连云港硅谷新材料科技有限公司",
    F2: "海州药谷生物医药有限公司",
    F3: "赣榆装备制造股份有限公司",
    F4: "东海新能源科技有限公司",
}
PUSHED_TO_BKA = {F2}


def pushed_source(institution_id: str, now: datetime):  # type: ignore[no-untyped-def]
    """Stand-in for the whitelist area's push: BKA received F2."""
    return select(Enterprise.uscc).where(
        Enterprise.uscc.in_(sorted(PUSHED_TO_BKA if institution_id == "BKA" else set()))
    )


@dataclass
class World:
    users: dict[str, int] = field(default_factory=dict)
    consents: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def add_user(
    s: Session,
    approver: Principal | None,
    username: str,
    role: str,
    institution_id: str | None = None,
    uscc: str | None = None,
) -> User:
    """An account made usable the way production makes one, its password then :data:`PASSWORD`.

    A privileged account is created pending and approved by ``approver`` (the first one, with no
    approver yet, by the operator's audited ``bootstrap`` exemption); every account then changes
    the password someone else chose, as its owner must at first login.
    """
    first: str | None = FIRST_PASSWORD
    if role in PRIVILEGED_ROLES and approver is not None:
        first = None
    u = accounts.create_user(
        s,
        SYSTEM,
        username=username,
        role=role,
        password=first,
        institution_id=institution_id,
        uscc=uscc,
        exemption="bootstrap" if role in PRIVILEGED_ROLES and approver is None else None,
    )
    if first is None:
        assert approver is not None
        first = accounts.approve_user(s, approver, u.id).password
    accounts.change_password(s, service.principal_of(u), current=first, new=PASSWORD)
    return u


def build(engine: Engine) -> World:
    w = World()
    add_visibility("test_push", pushed_source)
    now = datetime.now().replace(microsecond=0)
    today = date.today()
    with transaction(engine) as s:
        s.add_all(
            [
                Institution(
                    id="BKA",
                    name="甲银行连云港分行",
                    kind="bank",
                    region_code="320700",
                    partner_bank=True,
                    tech_branch=True,
                ),
                Institution(
                    id="BKB",
                    name="乙银行连云港分行",
                    kind="bank",
                    region_code="320700",
                    partner_bank=False,
                    tech_branch=False,
                ),
            ]
        )
        s.flush()
        s.add(
            Product(
                id="BKA-P1",
                institution_id="BKA",
                name="科创积分贷",
                kind="loan",
                guarantee_type="credit",
                min_amount=Decimal("100000.00"),
                max_amount=Decimal("5000000.00"),
                rate_floor=Decimal("0.030000"),
                rate_ceiling=Decimal("0.045000"),
                max_term_months=36,
            )
        )
        chains = ["silicon_materials", "biomedicine", "equipment", "new_energy"]
        for i, code in enumerate((F1, F2, F3, F4)):
            s.add(
                Enterprise(
                    uscc=code,
                    name=NAMES[code],
                    region_code="320703",
                    industry_code="3985",
                    industry_chain=chains[i],
                    founded_on=date(2015 + i, 3, 1),
                    stage=("growth", "startup", "mature", "seed")[i],
                    staff=50 + i,
                    listing_board="none",
                    dishonest=False,
                    deregistered=False,
                    abnormal_operation=False,
                )
            )
        s.flush()
        s.add(
            Qualification(
                uscc=F1,
                kind="hnte",
                certificate_no="GR2024001",
                valid_from=today - timedelta(days=100),
                valid_to=today + timedelta(days=900),
                source="most",
            )
        )
        s.add(
            Qualification(
                uscc=F2,
                kind="tsme",
                certificate_no="TS2024002",
                valid_from=today - timedelta(days=100),
                valid_to=today + timedelta(days=200),
                source="most",
            )
        )
        s.add(
            AnnualIndicator(
                uscc=F1,
                year=today.year - 1,
                revenue=Decimal("12345678.90"),
                rd_expense=Decimal("1500000.00"),
                invention_patents=7,
            )
        )
        s.add(AnnualIndicator(uscc=F2, year=today.year - 1, revenue=Decimal("2000000.00")))
        s.add(
            FinancingEvent(
                uscc=F1,
                kind="vc",
                occurred_on=date(2023, 5, 1),
                amount=Decimal("30000000.00"),
                investor="港城创投",
            )
        )
        s.add(
            Loan(
                contract_no="BKA-L1",
                uscc=F1,
                institution_id="BKA",
                product_id="BKA-P1",
                amount=Decimal("3000000.00"),
                credit_line=Decimal("3000000.00"),
                rate=Decimal("0.038000"),
                disbursed_on=date(2025, 3, 1),
                maturity_on=date(2026, 3, 1),
                guarantee_type="credit",
                first_time_borrower=True,
            )
        )
        s.add(
            Loan(
                contract_no="BKB-L1",
                uscc=F3,
                institution_id="BKB",
                amount=Decimal("8000000.00"),
                credit_line=Decimal("9000000.00"),
                rate=Decimal("0.041000"),
                disbursed_on=date(2025, 1, 10),
                maturity_on=date(2027, 1, 10),
                guarantee_type="mortgage",
                first_time_borrower=False,
            )
        )
        s.flush()
        s.add(
            LoanStatus(
                contract_no="BKA-L1",
                month=date(2025, 9, 1),
                balance=Decimal("3000000.00"),
                days_past_due=0,
                classification="normal",
            )
        )
        s.add(
            LoanStatus(
                contract_no="BKA-L1",
                month=date(2025, 10, 1),
                balance=Decimal("2500000.00"),
                days_past_due=0,
                classification="normal",
            )
        )
        s.add(
            LoanStatus(
                contract_no="BKB-L1",
                month=date(2025, 10, 1),
                balance=Decimal("7000000.00"),
                days_past_due=35,
                classification="special_mention",
            )
        )
        specs = [
            ("gov", "gov_admin", None, None),
            ("rev", "gov_reviewer", None, None),
            ("aud", "auditor", None, None),
            ("bank", "bank_officer", "BKA", None),
            ("bankb", "bank_officer", "BKB", None),
            ("ent", "enterprise_user", None, F1),
            ("ent3", "enterprise_user", None, F3),
        ]
        approver = None
        for name, role, inst, code in specs:
            u = add_user(s, approver, name, role, inst, code)
            approver = approver or service.principal_of(u)
            w.users[name] = u.id
        ent = service.principal_of(s.get(service.User, w.users["ent"]))
        ent3 = service.principal_of(s.get(service.User, w.users["ent3"]))
        w.consents["c1"] = service.grant_consent(
            s,
            ent,
            uscc=F1,
            institution_id="BKA",
            purpose="credit_assessment",
            scope="full",
            expires_at=now + timedelta(days=365),
        ).id
        w.consents["c2"] = service.grant_consent(
            s,
            ent3,
            uscc=F3,
            institution_id="BKB",
            purpose="post_loan_monitoring",
            scope="profile",
            expires_at=now + timedelta(days=365),
        ).id
        bank = service.principal_of(s.get(service.User, w.users["bank"]))
        bankb = service.principal_of(s.get(service.User, w.users["bankb"]))
        for key, p in (("t1", bank), ("t2", bankb), ("t3", bank)):
            it = service.issue_token(s, p, name=f"system {key}")
            w.tokens[key] = it.token.id
            w.secrets[key] = it.secret
    return w
