"""What a person reads for the points codes — list bands, improvement targets, peer groups —
in pages, terminal output and charts alike (``top5_10`` → 5%–10%, ``growth`` → 成长期)."""

from __future__ import annotations

import re

from kejin.points.system import System
from kejin.vocab import INDUSTRY_CHAINS, STAGES
from kejin.web.i18n import t, term


def list_name(system: System, list_id: str | None, lang: str) -> str:
    """A points list band by its name in the system (``top5_10`` → 5%–10%)."""
    hit = next((x for x in system.lists if x.id == list_id), None)
    return (
        "—" if list_id is None else list_id if hit is None else (hit.en if lang == "en" else hit.zh)
    )


def target_name(system: System, target: str, lang: str) -> str:
    """An improvement target in words (``grade:A`` → 等级 A, ``list:top5`` → 名单 前5%)."""
    kind, _, code = target.partition(":")
    if kind == "grade":
        return f"{t('pt_grade', lang)} {code}"
    if kind == "list":
        return f"{t('pt_list', lang)} {list_name(system, code, lang)}"
    return target


def peer_name(group: str, lang: str) -> str:
    """A peer group in words: its parts are a lifecycle stage and, by the system, an industry
    chain (``growth`` → 成长期; the page said "同组 growth")."""
    parts = re.split(r"[:|/]", group)
    return " · ".join(
        term(STAGES, x, lang) if x in STAGES else term(INDUSTRY_CHAINS, x, lang) for x in parts
    )
