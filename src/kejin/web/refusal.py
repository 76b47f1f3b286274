"""A refusal as every page form shows it: the reason, then each problem with the field named by
its form label and a coded value by its label.

A service names a problem's field by its code (``amount_fen``, ``institution_id``) and gives the
value as stored (``LYG-B04``, ``pending``): codes a clerk never typed and cannot look up. One view
for every page (``_refusal.html`` draws it) keeps the pages from drifting back to raw codes: a
field the page has no label for is left out (its value and reason kept), an institution is named,
a coded value is labelled, an amount kept in fen is shown in yuan.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from kejin.errors import KejinError
from kejin.web.i18n import N_, VOCABS, t, term

#: Labels every form shares (a page's own ``fields`` come first: "amount" is a quota on one page).
COMMON_FIELDS = {
    "amount": N_("amount"),
    "amount_fen": N_("amount"),
    "reason": N_("reason"),
    "contract_no": N_("contract"),
    "uscc": N_("uscc"),
    "institution_id": N_("institution"),
    "institution": N_("institution"),
    "bank": N_("institution"),
    "year": N_("year"),
    "purpose": N_("purpose"),
}
#: Fields whose value is an institution id (shown by the institution's name).
INSTITUTION_FIELDS = frozenset({"institution_id", "institution", "bank", "bank_id"})
#: Shared vocabularies that label a coded value, by field (a page adds its own in ``vocabs``).
COMMON_VOCABS = {
    "classification": "classification",
    "tool": "relend_tool",
    "role": "role",
    "purposes": "purpose",
}


def _yuan(fen: Any) -> Any:
    try:
        return f"{Decimal(int(fen)) / 100:,.2f}"
    except (TypeError, ValueError):
        return fen


def refusal_view(
    e: KejinError | None,
    lang: str,
    fields: Mapping[str, str] | None = None,
    vocabs: Mapping[str, str] | None = None,
    names: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
) -> dict[str, Any] | None:
    """``e`` as a page shows it, in ``lang``: ``{"reason", "problems": [{row, field, value,
    reason}]}``. ``fields`` maps a field code to the message id of its form label, ``vocabs`` a
    field code to the ``VOCABS`` name labelling its value; ``names`` is the institutions' names
    (or a function reading them, called only when a problem names an institution)."""
    if e is None:
        return None
    en = lang == "en"
    labels = {**COMMON_FIELDS, **(fields or {})}
    codes = {**COMMON_VOCABS, **(vocabs or {})}
    problems = []
    for pr in e.problems:
        field, value = pr.field or "", pr.value
        if field in codes and isinstance(value, str) and value and codes[field] in VOCABS:
            value = term(VOCABS[codes[field]], value, lang)
        elif field in INSTITUTION_FIELDS and isinstance(value, str) and names is not None:
            known = names() if callable(names) else names
            value = known.get(value, value)
        elif field.endswith("_fen") and value not in ("", None):
            value = _yuan(value)
        label = labels.get(field)
        problems.append(
            {
                "row": pr.row,
                "field": t(label, lang) if label else None,
                "value": value if value not in ("", None) else None,
                "reason": pr.reason_en if en else pr.reason_zh,
            }
        )
    return {"reason": e.reason_en if en else e.reason_zh, "problems": problems}


def names_in(s: Any) -> Callable[[], Mapping[str, str]]:
    """The institutions' names read from session ``s`` once, and only if a refusal names one."""
    from sqlalchemy import select

    from kejin.lending.tables import Institution

    got: dict[str, str] = {}

    def read() -> Mapping[str, str]:
        if not got:
            got.update(s.execute(select(Institution.id, Institution.name)).all())
        return got

    return read
