"""No page shows a code where a person reads words (issue 16, "Codes where people read words").

Every role of the service world walks every page it can reach from its home page by following
links, in Chinese and in English, over a world with data in every area (points, whitelist,
policy programme, fund pool and claims, credit decisions). The visible text of each page is
checked against the codes of the one vocabulary (:mod:`kejin.vocab`, the roles and consent
terms) and of the systems' YAML (indicator, rule, tier, scheme and parameter ids), against the
institutions' ids (each has a name) and the region codes (each has a name): a code that reaches
the text unlabelled fails the test, naming the page and the code.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import Engine, select

from kejin.access.tables import CONSENT_PURPOSES, CONSENT_SCOPES, REGISTRATION_STATUSES, ROLES
from kejin.db import transaction

from .conftest import login
from .creditworld import build_decisions
from .fundworld import build_fund
from .policy_data import qualify

SRC = Path(__file__).resolve().parents[2] / "src" / "kejin"
YAML_DIRS = ("points/systems", "whitelist/rules", "fund/schemes", "policy/library")
#: Pages a walk does not open: downloads, the exit, the API.
SKIP = re.compile(r"^/(api/|logout|docs|redoc|openapi)|\.(xlsx|json|csv|png)$|/file$")
#: Pages per path shape (ids replaced): enough to see each template with data.
PER_SHAPE = 2


def _yaml_ids(node: Any, out: set[str]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "id" and isinstance(v, str):
                out.add(v)
            if k in ("params", "parameters") and isinstance(v, dict):
                out.update(str(x) for x in v)
            _yaml_ids(v, out)
    elif isinstance(node, list):
        for v in node:
            _yaml_ids(v, out)


def vocabulary_codes() -> set[str]:
    """Every code the platform has a label for (terms, systems, rules, schemes, policies)."""
    import kejin.vocab as vocab
    from kejin.policy import library

    codes: set[str] = set()
    for value in vars(vocab).values():
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(t, vocab.Term) for t in value.values())
        ):
            codes.update(value)
    for terms in (ROLES, CONSENT_PURPOSES, CONSENT_SCOPES, REGISTRATION_STATUSES):
        codes.update(terms)
    for d in YAML_DIRS:
        for f in (SRC / d).glob("*.yaml"):
            _yaml_ids(yaml.safe_load(f.read_text(encoding="utf-8")), codes)
    for pol in library.all_policies():
        codes.add(pol.id)
        codes.update(pol.params)
    return codes


def _is_code(token: str, codes: set[str], lang: str) -> bool:
    """Any snake_case identifier (no prose has one); a one-word code of the vocabulary only on
    a Chinese page (in English it is often the word itself: ``growth``, ``loss``), and not the
    one- or two-letter ones (grades ``A``, ``B``)."""
    if re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)+", token):
        return True
    return token in codes and lang == "zh" and len(token) > 2


def visible_text(html: str) -> str:
    """What a reader sees: no tags, styles, attribute values or the hidden CSRF field. Text in
    ``<code>`` is an identifier shown as one (a checksum, a version, an evidence record's field
    path, which its downloads carry) and is left out."""
    html = re.sub(r"<(style|script|code)\b.*?</\1>", " ", html, flags=re.S | re.I)
    html = re.sub(
        r"<svg\b.*?</svg>", lambda m: " ".join(re.findall(r">([^<]*)<", m[0])), html, flags=re.S
    )
    return unescape(re.sub(r"<[^>]+>", " ", html))


def unlabelled(
    text: str, lang: str, codes: set[str], named: set[str], people: set[str]
) -> list[str]:
    """The codes a reader would see in ``text`` (a page's visible text): snake_case and
    vocabulary identifiers, ``kind:value`` keys, and institution ids or region codes (each has
    a name to show instead). ``people`` are usernames, names people chose, not codes."""
    tokens = set(re.findall(r"(?<![\w./:-])[A-Za-z][A-Za-z0-9_]*(?![\w/-])", text))
    bad = sorted(t for t in tokens - people if _is_code(t, codes, lang))
    bad += sorted(set(re.findall(r"(?<![\w./-])[a-z][a-z_]*:[A-Za-z0-9_]+", text)))
    bad += sorted(n for n in named if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text))
    return bad


def _shape(path: str) -> str:
    return re.sub(r"/[0-9A-Z][0-9A-Za-z_-]*(?=/|$)|/\d+", "/#", path)


def walk(client: Any, lang: str) -> tuple[dict[str, str], list[str]]:
    """Every page reachable from the home page by links (GET): ``url → visible text``, and the
    links that did not open (a link to a failing page is a dead end too)."""
    seen: dict[str, str] = {}
    broken: list[str] = []
    shapes: dict[str, int] = {}
    queue, queued = ["/"], {"/"}
    while queue:
        url = queue.pop(0)
        r = client.get(url, params={"lang": lang})
        if r.status_code != 200:
            broken.append(f"{url} answered {r.status_code}")
            continue
        if "text/html" not in r.headers.get("content-type", ""):
            continue
        seen[url] = visible_text(r.text)
        for href in re.findall(r'href="([^"#]*)', r.text):
            target = urlsplit(unescape(href))
            if not target.path.startswith("/") or SKIP.search(target.path):
                continue
            query = re.sub(r"(^|&)lang=\w+", "", target.query).strip("&")
            key = target.path + ("?" + query if query else "")
            shape = _shape(target.path)
            if key in queued or shapes.get(shape, 0) >= PER_SHAPE * (1 + bool(query)):
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            queued.add(key)
            queue.append(key)
    return seen, broken


def _prepare(app: Any, engine: Engine) -> None:
    """Data in every area: points and a whitelist version pushed to BKA, a published programme
    with an application, a fund pool with claims, credit decisions."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "points"))
    from points_region import build_region

    from kejin.points.service import score_run

    build_region(engine, 30)
    score_run(engine, "most-v1")
    qualify(engine, extra=2)
    gov, rev, ent = login(app, "gov"), login(app, "rev"), login(app, "ent")
    assert gov.post("/api/whitelist/refresh").status_code == 200
    gov.post("/api/whitelist/push/BKA")
    body = {"policy": "karamay_interest", "year": 2025, "budget": "100000", "allocation": "fcfs"}
    gov.post("/api/policy/programmes", json=body)
    rev.post("/api/policy/programmes/karamay_interest-2025/publish")
    from .world import F1

    ent.post(f"/api/firms/{F1}/policy/applications", json={"programme": "karamay_interest-2025"})
    build_fund(engine, claims=True)
    build_decisions(engine)
    from .test_service_prg import _registration

    _registration(app, engine)  # a firm's self-registration in the government's queue


def institution_and_region_codes(engine: Engine) -> set[str]:
    from kejin.lending.tables import Institution
    from kejin.registry.tables import Enterprise

    with transaction(engine) as s:
        ids = set(s.scalars(select(Institution.id)))
        regions = set(s.scalars(select(Enterprise.region_code))) | set(
            s.scalars(select(Institution.region_code))
        )
    return ids | {r for r in regions if r}


@pytest.mark.parametrize("who", ["gov", "rev", "aud", "bank", "ent"])
def test_no_page_a_role_reaches_shows_an_unlabelled_code(app, engine: Engine, world, who) -> None:
    _prepare(app, engine)
    codes = vocabulary_codes()
    named = institution_and_region_codes(engine)
    client = login(app, who)
    from kejin.access.tables import RegistrationRequest

    with transaction(engine) as s:  # usernames are names people chose (or asked for), not codes
        people = set(world.users) | set(s.scalars(select(RegistrationRequest.username)))
    found: list[str] = []
    pages = 0
    for lang in ("zh", "en"):
        texts, broken = walk(client, lang)
        found += [f"{who} {lang} {b}" for b in broken]
        for url, text in texts.items():
            pages += 1
            bad = unlabelled(text, lang, codes, named, people)
            if bad:
                found.append(f"{who} {lang} {url}: {', '.join(bad)}")
    assert pages >= 4, f"{who} reached only {pages} pages"
    assert not found, "\n".join(found)
