"""The seeds' policy library: one module per policy, its parameters in the YAML beside it.

Modules are listed here (not discovered) so that adding a policy is a reviewed change and the
order of ``kejin policy list`` is stable.
"""

from __future__ import annotations

import importlib
from functools import cache

from kejin.errors import NotFoundError, Problem
from kejin.policy.engine import Policy

MODULES = (
    "karamay_interest",
    "karamay_investment",
    "vc_tax_deduction",
    "jian_ip_pledge",
    "jian_digital",
    "tech_insurance",
    "shanghai_first_set",
    "guarantee_plan",
    "guarantee_fee_subsidy",
)


@cache
def get(policy_id: str) -> Policy:
    """Build (and validate) one policy; refused with the available ids when unknown."""
    if policy_id not in MODULES:
        raise NotFoundError(
            f"没有政策{policy_id}",
            f"no policy {policy_id}",
            [
                Problem(
                    f"可用：{', '.join(MODULES)}",
                    f"available: {', '.join(MODULES)}",
                    field="policy",
                    value=policy_id,
                )
            ],
        )
    return importlib.import_module(f"kejin.policy.library.{policy_id}").build()


def all_policies() -> list[Policy]:
    return [get(m) for m in MODULES]
