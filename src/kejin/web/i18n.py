"""Page texts in the catalogs' languages: Chinese first, ``?lang=`` or the cookie switches.

The words live in gettext catalogs (:mod:`kejin.web.catalogs`: one ``.po`` per language, compiled
to ``.mo`` at install), not in Python: templates and page code ask ``t(key, lang)`` with the key
as message id. The languages offered are the catalogs present. Vocabulary labels (stages,
chains, qualifications) come from :mod:`kejin.vocab`, so the pages and the data speak the same
words.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.mofile import read_mo
from fastapi import Request

from kejin.access.tables import CONSENT_PURPOSES, CONSENT_SCOPES, REGISTRATION_STATUSES, ROLES
from kejin.ids import REGIONS
from kejin.vocab import (
    AUDIT_ENTITIES,
    CLASSIFICATIONS,
    DECISION_FLAGS,
    FINANCING_KINDS,
    INDUSTRY_CHAINS,
    LEDGER_PURPOSES,
    LOAN_PURPOSES,
    QUALIFICATION_KINDS,
    RELEND_BATCH_STATES,
    RELEND_TOOLS,
    STAGES,
    SYSTEM_ACTORS,
    WARNING_KINDS,
    Term,
)
from kejin.web import catalogs


def N_(key: str) -> str:
    """Marks a message id chosen at run time (gettext's ``gettext_noop``): the extraction
    (``make messages``) finds it here, and ``t`` translates it where it is shown."""
    return key


@cache
def _catalogs(locale_dir: Path) -> dict[str, dict[str, str]]:
    """Each compiled catalog as {message id: text}, read once. A ``.po`` without its ``.mo``, or
    edited after it, is refused: the page would otherwise show stale or missing words."""
    out: dict[str, dict[str, str]] = {}
    for po in catalogs.po_files(locale_dir).values():
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            raise RuntimeError(
                f"{mo}: 页面文字目录未编译或已过期，请运行 make locale / "
                "the catalog is not compiled or is older than its .po: run `make locale`"
            )
    for mo in sorted(locale_dir.glob(f"*/LC_MESSAGES/{catalogs.DOMAIN}.mo")):
        with mo.open("rb") as f:
            out[mo.parents[1].name] = {m.id: m.string for m in read_mo(f) if m.id}
    if catalogs.DEFAULT not in out:
        raise RuntimeError(f"{locale_dir}: no {catalogs.DEFAULT} catalog / 缺少中文页面文字目录")
    return out


def texts() -> dict[str, dict[str, str]]:
    """Every language's texts, by language code (the catalogs under ``catalogs.LOCALE_DIR``)."""
    return _catalogs(catalogs.LOCALE_DIR)


def languages() -> list[str]:
    """The languages pages are offered in: Chinese first, then the other catalogs present."""
    return sorted(texts(), key=lambda lang: (lang != catalogs.DEFAULT, lang))


def lang_of(request: Request) -> str:
    """The page language: ``?lang=`` first, then the cookie the last choice set, else Chinese;
    a language without a catalog is not one."""
    offered = texts()
    for lang in (request.query_params.get("lang"), request.cookies.get("kejin_lang")):
        if lang in offered:
            return lang
    return catalogs.DEFAULT


def t(key: str, lang: str) -> str:
    """The page text ``key`` in ``lang``. An unknown key is an error, not a key on a page."""
    return texts()[lang][key]


def term(vocab: dict[str, Term], key: str | None, lang: str) -> str:
    if key is None:
        return "—"
    tm = vocab.get(key)
    if tm is None:
        return key
    return tm.en if lang == "en" else tm.zh


#: Region names by GB/T 2260 code (kejin.ids.REGIONS) as terms, for ``term('region', code)``.
REGION_TERMS = {k: Term(k, zh, en) for k, (zh, en) in REGIONS.items()}

VOCABS = {
    "region": REGION_TERMS,
    "ledger": LEDGER_PURPOSES,
    "entity": AUDIT_ENTITIES,
    "flag": DECISION_FLAGS,
    "stage": STAGES,
    "chain": INDUSTRY_CHAINS,
    "qualification": QUALIFICATION_KINDS,
    "role": ROLES,
    "purpose": CONSENT_PURPOSES,
    "scope": CONSENT_SCOPES,
    "financing": FINANCING_KINDS,
    "classification": CLASSIFICATIONS,
    "warning": WARNING_KINDS,
    "relend_tool": RELEND_TOOLS,
    "relend_state": RELEND_BATCH_STATES,
    "loan_purpose": LOAN_PURPOSES,
    "registration": REGISTRATION_STATUSES,
    "actor": SYSTEM_ACTORS,
}
