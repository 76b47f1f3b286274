"""The seeds' policy library: one module per policy, its parameters in the YAML beside it.

Modules are listed here (not discovered) so that adding a policy is a reviewed change and the
order of ``kejin policy list`` is stable. They are other cities' rules, kept as *templates*: the
configured region (:mod:`kejin.regions`) adapts some of them under its own ids, titles, document
and parameter values, and those are the policies the platform offers. With no region configured
every template is active.
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import cache
from typing import TYPE_CHECKING

from kejin.errors import NotFoundError, Problem
from kejin.policy.engine import Policy
from kejin.policy.params import OPEN_END, Value

if TYPE_CHECKING:
    from kejin.regions import Region, RegionPolicy

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
def template(policy_id: str) -> Policy:
    """Build (and validate) one library template; refused with the available ids when unknown."""
    if policy_id not in MODULES:
        raise _unknown(policy_id, MODULES)
    return importlib.import_module(f"kejin.policy.library.{policy_id}").build()


def templates() -> list[Policy]:
    return [template(m) for m in MODULES]


@cache
def get(policy_id: str) -> Policy:
    """A policy by id: the configured region's own (adapted from its template), else a library
    template (programmes created before a region was configured, or with none)."""
    from kejin.regions import current

    region = current()
    rp = region.policy(policy_id) if region is not None else None
    if rp is not None:
        return adapt(rp, region)  # type: ignore[arg-type]
    if policy_id not in MODULES:
        known = [p.id for p in region.policies] if region is not None else []
        raise _unknown(policy_id, (*known, *MODULES))
    return template(policy_id)


def all_policies() -> list[Policy]:
    """The active policies: the region's when one is configured, else every template."""
    from kejin.regions import current

    region = current()
    if region is None:
        return templates()
    return [get(p.id) for p in region.policies]


def titles(policy_ids: list[str], lang: str) -> dict[str, str]:
    """Each policy's title in the page language: the active ones' and those of ``policy_ids``
    (programmes of a template the region does not adopt, the synthetic region's say), so a
    page never shows a policy by its id."""
    out = {p.id: (p.title_en if lang == "en" else p.title_zh) for p in all_policies()}
    for pid in policy_ids:
        if pid not in out:
            try:
                pol = get(pid)
            except NotFoundError:
                continue
            out[pid] = pol.title_en if lang == "en" else pol.title_zh
    return out


def adapt(rp: RegionPolicy, region: Region) -> Policy:
    """The template under the region's own id, titles, issuer and document; every step cites
    the region's article, and each parameter the region sets has the region's value alone (from
    its own date, citing its own document), so no figure of the template's city is paid out
    under the region's name; steps the region relabels read in its own words. Parameters the
    region leaves alone (a national rate such as the
    LPR) keep the template's dated values and sources."""
    base = template(rp.template)
    pol = dataclasses.replace(
        base,
        id=rp.id,
        title_zh=rp.title_zh,
        title_en=rp.title_en,
        issuer=rp.issuer,
        document=rp.document,
        articles=(rp.article,),
        steps=tuple(
            dataclasses.replace(
                st,
                article=rp.article,
                **(rp.labels[st.name].model_dump() if st.name in rp.labels else {}),
            )
            for st in base.steps
        ),
        summary_zh=rp.summary_zh or base.summary_zh,
        summary_en=rp.summary_en or base.summary_en,
    )
    for name, pv in rp.params.items():
        pol.params[name] = dataclasses.replace(
            pol.params[name],
            document=rp.document,
            article=pv.article,
            values=(Value(pv.value, pv.start, OPEN_END, pv.published),),
            # the region's value is its own decision, not a reading of another city's text
            description=pv.description or pol.params[name].description,
            reading=pol.params[name].reading and pv.description is None,
        )
    return pol


def _unknown(policy_id: str, known: tuple[str, ...]) -> NotFoundError:
    return NotFoundError(
        f"没有政策{policy_id}",
        f"no policy {policy_id}",
        [
            Problem(
                f"可用：{', '.join(known)}",
                f"available: {', '.join(known)}",
                field="policy",
                value=policy_id,
            )
        ],
    )
