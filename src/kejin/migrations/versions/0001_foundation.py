"""foundation: registry, lending, synth truth

Revision ID: 0001
Revises:
Create Date: 2026-11-22 22:02:05.291070
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kejin.db

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("foundation",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_pulls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column(
            "department",
            sa.Enum(
                "tax",
                "amr",
                "ip",
                "most",
                "miit",
                "hrss",
                "stats",
                "pboc",
                "finance",
                "institution",
                name="department",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("pulled_at", sa.DateTime(), nullable=False),
        sa.Column("file_name", sa.String(length=500), nullable=True),
        sa.Column("file_sha256", sa.String(length=64), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.Column("rows_inserted", sa.Integer(), nullable=False),
        sa.Column("rows_updated", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_pulls")),
    )
    op.create_table(
        "synth_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("firms", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.String(length=10), nullable=False),
        sa.Column("generator_version", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_synth_runs")),
    )
    op.create_table(
        "enterprises",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("industry_code", sa.String(length=5), nullable=False),
        sa.Column(
            "industry_chain",
            sa.Enum(
                "silicon_materials",
                "petrochemical",
                "steel_alloy",
                "new_energy",
                "equipment",
                "information",
                "biomedicine",
                "fibre_composites",
                "green_food",
                "new_chemical_materials",
                name="industry_chain",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("founded_on", sa.Date(), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "seed",
                "startup",
                "growth",
                "mature",
                name="stage",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("staff", sa.Integer(), nullable=True),
        sa.Column(
            "listing_board",
            sa.Enum(
                "none",
                "main",
                "chinext",
                "star",
                "bse",
                "neeq",
                "regional",
                name="listing_board",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("dishonest", sa.Boolean(), nullable=False),
        sa.Column("deregistered", sa.Boolean(), nullable=False),
        sa.Column("abnormal_operation", sa.Boolean(), nullable=False),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("staff IS NULL OR staff >= 0", name=op.f("ck_enterprises_staff_nonneg")),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_enterprises_pull_id_data_pulls")
        ),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_enterprises")),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enterprises_industry_chain"), ["industry_chain"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_enterprises_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "institutions",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "bank",
                "guarantor",
                "insurer",
                "vc_fund",
                name="institution_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("partner_bank", sa.Boolean(), nullable=False),
        sa.Column("tech_branch", sa.Boolean(), nullable=False),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_institutions_pull_id_data_pulls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institutions")),
    )
    op.create_table(
        "annual_indicators",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("revenue", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("profit", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("total_assets", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("total_liabilities", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("total_cost", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("rd_expense", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("rd_staff", sa.Integer(), nullable=True),
        sa.Column("staff", sa.Integer(), nullable=True),
        sa.Column("high_tech_revenue", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("invention_patents", sa.Integer(), nullable=True),
        sa.Column("utility_patents", sa.Integer(), nullable=True),
        sa.Column("design_patents", sa.Integer(), nullable=True),
        sa.Column("software_copyrights", sa.Integer(), nullable=True),
        sa.Column("pct_applications", sa.Integer(), nullable=True),
        sa.Column("tech_contract_turnover", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("graduates_hired", sa.Integer(), nullable=True),
        sa.Column("awards", sa.Integer(), nullable=True),
        sa.Column("science_programmes", sa.Integer(), nullable=True),
        sa.Column("rd_platforms", sa.Integer(), nullable=True),
        sa.Column("standards_led", sa.Integer(), nullable=True),
        sa.Column("tax_paid", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column(
            "tax_credit_grade",
            sa.Enum(
                "A",
                "B",
                "M",
                "C",
                "D",
                name="tax_credit_grade",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("revenue_pull", sa.Integer(), nullable=True),
        sa.Column("profit_pull", sa.Integer(), nullable=True),
        sa.Column("total_assets_pull", sa.Integer(), nullable=True),
        sa.Column("total_liabilities_pull", sa.Integer(), nullable=True),
        sa.Column("total_cost_pull", sa.Integer(), nullable=True),
        sa.Column("rd_expense_pull", sa.Integer(), nullable=True),
        sa.Column("rd_staff_pull", sa.Integer(), nullable=True),
        sa.Column("staff_pull", sa.Integer(), nullable=True),
        sa.Column("high_tech_revenue_pull", sa.Integer(), nullable=True),
        sa.Column("invention_patents_pull", sa.Integer(), nullable=True),
        sa.Column("utility_patents_pull", sa.Integer(), nullable=True),
        sa.Column("design_patents_pull", sa.Integer(), nullable=True),
        sa.Column("software_copyrights_pull", sa.Integer(), nullable=True),
        sa.Column("pct_applications_pull", sa.Integer(), nullable=True),
        sa.Column("tech_contract_turnover_pull", sa.Integer(), nullable=True),
        sa.Column("graduates_hired_pull", sa.Integer(), nullable=True),
        sa.Column("awards_pull", sa.Integer(), nullable=True),
        sa.Column("science_programmes_pull", sa.Integer(), nullable=True),
        sa.Column("rd_platforms_pull", sa.Integer(), nullable=True),
        sa.Column("standards_led_pull", sa.Integer(), nullable=True),
        sa.Column("tax_paid_pull", sa.Integer(), nullable=True),
        sa.Column("tax_credit_grade_pull", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "awards IS NULL OR awards >= 0", name=op.f("ck_annual_indicators_awards_nonneg")
        ),
        sa.CheckConstraint(
            "design_patents IS NULL OR design_patents >= 0",
            name=op.f("ck_annual_indicators_design_patents_nonneg"),
        ),
        sa.CheckConstraint(
            "graduates_hired IS NULL OR graduates_hired >= 0",
            name=op.f("ck_annual_indicators_graduates_hired_nonneg"),
        ),
        sa.CheckConstraint(
            "high_tech_revenue IS NULL OR high_tech_revenue >= 0",
            name=op.f("ck_annual_indicators_high_tech_revenue_nonneg"),
        ),
        sa.CheckConstraint(
            "invention_patents IS NULL OR invention_patents >= 0",
            name=op.f("ck_annual_indicators_invention_patents_nonneg"),
        ),
        sa.CheckConstraint(
            "pct_applications IS NULL OR pct_applications >= 0",
            name=op.f("ck_annual_indicators_pct_applications_nonneg"),
        ),
        sa.CheckConstraint(
            "rd_expense IS NULL OR rd_expense >= 0",
            name=op.f("ck_annual_indicators_rd_expense_nonneg"),
        ),
        sa.CheckConstraint(
            "rd_platforms IS NULL OR rd_platforms >= 0",
            name=op.f("ck_annual_indicators_rd_platforms_nonneg"),
        ),
        sa.CheckConstraint(
            "rd_staff IS NULL OR rd_staff >= 0", name=op.f("ck_annual_indicators_rd_staff_nonneg")
        ),
        sa.CheckConstraint(
            "revenue IS NULL OR revenue >= 0", name=op.f("ck_annual_indicators_revenue_nonneg")
        ),
        sa.CheckConstraint(
            "science_programmes IS NULL OR science_programmes >= 0",
            name=op.f("ck_annual_indicators_science_programmes_nonneg"),
        ),
        sa.CheckConstraint(
            "software_copyrights IS NULL OR software_copyrights >= 0",
            name=op.f("ck_annual_indicators_software_copyrights_nonneg"),
        ),
        sa.CheckConstraint(
            "staff IS NULL OR staff >= 0", name=op.f("ck_annual_indicators_staff_nonneg")
        ),
        sa.CheckConstraint(
            "standards_led IS NULL OR standards_led >= 0",
            name=op.f("ck_annual_indicators_standards_led_nonneg"),
        ),
        sa.CheckConstraint(
            "tax_paid IS NULL OR tax_paid >= 0", name=op.f("ck_annual_indicators_tax_paid_nonneg")
        ),
        sa.CheckConstraint(
            "tech_contract_turnover IS NULL OR tech_contract_turnover >= 0",
            name=op.f("ck_annual_indicators_tech_contract_turnover_nonneg"),
        ),
        sa.CheckConstraint(
            "total_assets IS NULL OR total_assets >= 0",
            name=op.f("ck_annual_indicators_total_assets_nonneg"),
        ),
        sa.CheckConstraint(
            "total_cost IS NULL OR total_cost >= 0",
            name=op.f("ck_annual_indicators_total_cost_nonneg"),
        ),
        sa.CheckConstraint(
            "total_liabilities IS NULL OR total_liabilities >= 0",
            name=op.f("ck_annual_indicators_total_liabilities_nonneg"),
        ),
        sa.CheckConstraint(
            "utility_patents IS NULL OR utility_patents >= 0",
            name=op.f("ck_annual_indicators_utility_patents_nonneg"),
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_annual_indicators_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("uscc", "year", name=op.f("pk_annual_indicators")),
    )
    op.create_table(
        "financing_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "angel",
                "vc",
                "pe",
                "ipo",
                "bond",
                name="financing_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("amount", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("investor", sa.String(length=200), nullable=False),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_financing_events_amount_pos")),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_financing_events_pull_id_data_pulls")
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_financing_events_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financing_events")),
        sa.UniqueConstraint(
            "uscc",
            "kind",
            "occurred_on",
            "investor",
            name=op.f("uq_financing_events_uscc_kind_occurred_on_investor"),
        ),
    )
    with op.batch_alter_table("financing_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_financing_events_uscc"), ["uscc"], unique=False)

    op.create_table(
        "products",
        sa.Column("id", sa.String(length=30), nullable=False),
        sa.Column("institution_id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "loan",
                "guarantee",
                "insurance",
                "equity",
                name="product_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "guarantee_type",
            sa.Enum(
                "credit",
                "ip_pledge",
                "guarantee",
                "mortgage",
                name="guarantee_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column("min_amount", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("max_amount", kejin.db.FixedDecimal(18, 2), nullable=True),
        sa.Column("rate_floor", kejin.db.FixedDecimal(9, 6), nullable=True),
        sa.Column("rate_ceiling", kejin.db.FixedDecimal(9, 6), nullable=True),
        sa.Column("max_term_months", sa.Integer(), nullable=True),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "min_amount IS NULL OR max_amount IS NULL OR min_amount <= max_amount",
            name=op.f("ck_products_amount_order"),
        ),
        sa.CheckConstraint(
            "rate_floor IS NULL OR rate_ceiling IS NULL OR rate_floor <= rate_ceiling",
            name=op.f("ck_products_rate_order"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_products_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_products_pull_id_data_pulls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "qualifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "hnte",
                "tsme",
                "innovative_sme",
                "srdi_sme",
                "little_giant",
                "innovation_demo_firm",
                "single_champion",
                "local_little_giant",
                name="qualification_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("certificate_no", sa.String(length=60), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column(
            "source",
            sa.Enum(
                "tax",
                "amr",
                "ip",
                "most",
                "miit",
                "hrss",
                "stats",
                "pboc",
                "finance",
                "institution",
                name="department",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("valid_to >= valid_from", name=op.f("ck_qualifications_validity_order")),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_qualifications_pull_id_data_pulls")
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_qualifications_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualifications")),
        sa.UniqueConstraint(
            "uscc",
            "kind",
            "certificate_no",
            name=op.f("uq_qualifications_uscc_kind_certificate_no"),
        ),
    )
    with op.batch_alter_table("qualifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qualifications_uscc"), ["uscc"], unique=False)

    op.create_table(
        "synth_truth",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("innovation_capability", sa.Float(), nullable=False),
        sa.Column("credit_quality", sa.Float(), nullable=False),
        sa.Column("pd_annual", sa.Float(), nullable=False),
        sa.Column("defaulted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_synth_truth_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_synth_truth")),
    )
    op.create_table(
        "loans",
        sa.Column("contract_no", sa.String(length=40), nullable=False),
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("institution_id", sa.String(length=20), nullable=False),
        sa.Column("product_id", sa.String(length=30), nullable=True),
        sa.Column("amount", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("credit_line", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("rate", kejin.db.FixedDecimal(9, 6), nullable=False),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("maturity_on", sa.Date(), nullable=False),
        sa.Column(
            "guarantee_type",
            sa.Enum(
                "credit",
                "ip_pledge",
                "guarantee",
                "mortgage",
                name="guarantee_type",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("first_time_borrower", sa.Boolean(), nullable=False),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loans_amount_pos")),
        sa.CheckConstraint("credit_line >= amount", name=op.f("ck_loans_line_covers_amount")),
        sa.CheckConstraint("maturity_on > disbursed_on", name=op.f("ck_loans_term_order")),
        sa.CheckConstraint("rate >= 0", name=op.f("ck_loans_rate_nonneg")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loans_institution_id_institutions"),
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_loans_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_loans_pull_id_data_pulls")
        ),
        sa.ForeignKeyConstraint(
            ["uscc"], ["enterprises.uscc"], name=op.f("fk_loans_uscc_enterprises")
        ),
        sa.PrimaryKeyConstraint("contract_no", name=op.f("pk_loans")),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loans_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_loans_uscc"), ["uscc"], unique=False)

    op.create_table(
        "loan_statuses",
        sa.Column("contract_no", sa.String(length=40), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("balance", kejin.db.FixedDecimal(18, 2), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column(
            "classification",
            sa.Enum(
                "normal",
                "special_mention",
                "substandard",
                "doubtful",
                "loss",
                name="classification",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("pull_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_loan_statuses_balance_nonneg")),
        sa.CheckConstraint("days_past_due >= 0", name=op.f("ck_loan_statuses_dpd_nonneg")),
        sa.ForeignKeyConstraint(
            ["contract_no"], ["loans.contract_no"], name=op.f("fk_loan_statuses_contract_no_loans")
        ),
        sa.ForeignKeyConstraint(
            ["pull_id"], ["data_pulls.id"], name=op.f("fk_loan_statuses_pull_id_data_pulls")
        ),
        sa.PrimaryKeyConstraint("contract_no", "month", name=op.f("pk_loan_statuses")),
    )


def downgrade() -> None:
    op.drop_table("loan_statuses")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loans_uscc"))
        batch_op.drop_index(batch_op.f("ix_loans_institution_id"))

    op.drop_table("loans")
    op.drop_table("synth_truth")
    with op.batch_alter_table("qualifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qualifications_uscc"))

    op.drop_table("qualifications")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_institution_id"))

    op.drop_table("products")
    with op.batch_alter_table("financing_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_financing_events_uscc"))

    op.drop_table("financing_events")
    op.drop_table("annual_indicators")
    op.drop_table("institutions")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_region_code"))
        batch_op.drop_index(batch_op.f("ix_enterprises_industry_chain"))

    op.drop_table("enterprises")
    op.drop_table("synth_runs")
    op.drop_table("data_pulls")
