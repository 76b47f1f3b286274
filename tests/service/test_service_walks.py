"""Every role walks its whole path in Chromium, in Chinese and in English (issue 16, "Done when").

The state is built the way ``make demo`` builds it: the same CLI commands in the same order
(a smaller region: 400 firms), for the configured region (Lianyungang, ``KEJIN_REGION``), then
the real application under uvicorn. Each role logs in with its demo account and does its job by
the pages alone:

* the **government** officer reads the dashboard, finds a firm, reviews an application in the
  policy centre; the reviewer approves it; the officer pays it;
* the **bank** officer opens a consented firm, asks for a credit decision, reaches its evidence
  pack, goes back to the firm and forth, switches language on the way;
* the **enterprise** applies for every programme its policies page offers, until none is left;
* the **auditor** verifies the chain and filters the log by an action the others just took.

Every page reached is scanned for unlabelled codes (the detector of the codes crawl,
:func:`tests.service.test_service_codes.unlabelled`), for error answers and for horizontal
overflow at 1280 px; the findings fail the test, naming page and code. Screenshots of each
role's main pages go to ``test-artifacts/screens/<role>-<page>-<lang>.png`` (git-ignored).

The walks assert behaviour (URLs, forms by their action, states changing), not wording, so that
page texts can move to the translation catalogs without breaking them.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import polars as pl
import pytest
from typer.testing import CliRunner

from kejin.db import make_engine, transaction
from kejin.regions import load_region

from .conftest import live_server
from .test_service_codes import (
    institution_and_region_codes,
    unlabelled,
    visible_text,
    vocabulary_codes,
)

CHROMIUM = Path("/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screens"
LANGS = ("zh", "en")
#: The region the walks build (as ``make demo``: fewer firms, the same commands).
FIRMS = 400
playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Chromium missing: apt-get install -y chromium (.ci/run does)"
)


@dataclass
class Demo:
    base: str
    passwords: dict[str, str]
    #: Firms the policy engine finds eligible for a published programme they have not applied
    #: for, one per language, each with an enterprise account of its own (``walk_firm_<lang>``).
    firms: dict[str, str]
    codes: set[str] = field(default_factory=set)
    named: set[str] = field(default_factory=set)
    #: Every account's username: names people chose, not codes, wherever a page shows them.
    people: set[str] = field(default_factory=set)


def _make_demo_argv(tmp: Path) -> list[list[str]]:
    """The Makefile's ``demo`` recipe, command by command (``kejin serve`` is the live server),
    but ``credit tech-model``: on a region this small its training window holds no default and
    ``--skip-if-insufficient`` does not skip it (it fails); the walks' credit decisions use the
    points product, which needs no fitted model."""
    demo = ["--who", "demo_gov", "--checker", "demo_reviewer"]
    return [
        ["db", "upgrade"],
        ["synth", "--firms", str(FIRMS), "--seed", "20241", "--replace"],
        ["demo-accounts", "--json"],
        ["points", "score", "--system", "most-v1", "--year", "2024"],
        ["points", "score", "--system", "most-v1"],
        ["whitelist", "refresh", "--as-of", "2026-06-30"],
        ["whitelist", "refresh"],
        ["whitelist", "push", "--institution", "all", "--out-dir", str(tmp / "wl"), "--who",
         "demo_gov"],
        ["summary"],
        ["stats", "lpr", "import"],
        ["stats", "book", "--month", "2026-06", "--out", str(tmp / "stats.xlsx")],
        ["credit", "warnings", "--month", "2026-06"],
        ["policy", "demo", *demo],
        ["fund", "demo", "--capital", "50000000", "--out", str(tmp / "out"), "--replace", *demo],
        ["match", "products", "adopt", *demo],
        ["match", "demo", *demo, "--firm", "demo_firm", "--bank", "demo_bank"],
        ["credit", "demo", "--who", "demo_bank", "--consents", "5"],
        ["relend", "demo", *demo, "--bank", "demo_bank"],
        ["stats", "demo", "--who", "demo_gov"],
    ]  # fmt: skip


#: Steps of the Makefile's recipe the walks leave out: the key (set in the environment instead),
#: the model fit (see :func:`_make_demo_argv`) and the server (the live server is).
NOT_WALKED = {("audit", "keygen"), ("credit", "tech-model"), ("serve",)}


def test_the_walks_build_their_state_as_make_demo_does(tmp_path: Path) -> None:
    """The walks' state is ``make demo``'s: the recipe's commands, in its order."""
    recipe = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    body = re.search(r"^demo: install.*?\n((?:\t.*\n)+)", recipe, flags=re.M)
    assert body, "the Makefile has a demo recipe"
    made = []
    for line in body[1].splitlines():
        m = re.search(r"\$\(BIN\)/kejin ([a-z-]+)(?: ([a-z-]+))?", line)
        if m:
            words = tuple(w for w in m.groups() if w and not w.startswith("-"))
            head = words if words[0] in GROUPS else words[:1]
            if head not in NOT_WALKED:
                made.append(head)
    walked = [tuple(a[:2]) if a[0] in GROUPS else tuple(a[:1]) for a in _make_demo_argv(tmp_path)]
    assert walked == made


#: Command groups (``kejin GROUP COMMAND``) among the recipe's commands; the rest are single.
GROUPS = {
    "audit",
    "db",
    "points",
    "whitelist",
    "credit",
    "policy",
    "fund",
    "match",
    "stats",
    "relend",
}


def _eligible_firms(engine: Any, n: int) -> list[str]:
    """Firms eligible (amount > 0) for a published programme and without any application yet."""
    from sqlalchemy import select

    from kejin.policy import library
    from kejin.policy.engine import evaluate
    from kejin.policy.entities import registry_frames
    from kejin.policy.simulate import rows_for_year
    from kejin.policy.tables import Application, Programme

    frames = registry_frames(engine)
    with transaction(engine) as s:
        progs = list(s.scalars(select(Programme).where(Programme.state == "published")))
        applied = set(s.scalars(select(Application.firm)))
    found: list[str] = []
    for prog in progs:
        pol = library.get(prog.policy_id)
        rows = rows_for_year(pol, frames[pol.entity], prog.year)
        res, _ = evaluate(pol, rows, as_of=prog.params_as_of or date(prog.year, 12, 31))
        ok = rows.filter(
            pl.Series((res["eligible"] & (res["amount"] > 0)).to_list(), dtype=pl.Boolean)
        )  # typed: a programme with no rows gives an empty (untyped) list
        found += [f for f in ok[pol.firm_column].unique().sort() if f not in applied]
    return list(dict.fromkeys(found))[:n]


def _usernames(engine: Any) -> set[str]:
    from sqlalchemy import select

    from kejin.access.tables import User

    with transaction(engine) as s:
        return set(s.scalars(select(User.username)))


@contextmanager
def demo_database(
    tmp: Path, sqlite_template: Path, argv: list[list[str]]
) -> Iterator[tuple[Any, dict[str, str]]]:
    """A copy of the migrated template that ``argv`` (make demo's recipe, or part of it) has
    filled through the CLI as ``make demo`` does, with its settings in the environment: the
    engine and the demo accounts' passwords. Shared by every walk that starts from make demo."""
    from kejin import regions
    from kejin.access.settings import get_service_settings
    from kejin.cli import _mount_areas, app
    from kejin.config import get_settings
    from kejin.console import engine_for

    db = tmp / "demo.db"
    shutil.copy(sqlite_template, db)
    url = f"sqlite:///{db}"

    def forget() -> None:
        get_settings.cache_clear()
        get_service_settings.cache_clear()
        engine_for.cache_clear()
        regions.clear()

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEJIN_DATABASE_URL", url)
        mp.setenv("KEJIN_REGION", "lianyungang")
        mp.setenv("KEJIN_AUDIT_KEY", secrets.token_hex(32))  # make demo keys the chain too
        forget()
        _mount_areas()
        runner = CliRunner()
        passwords: dict[str, str] = {}
        for args in argv:
            r = runner.invoke(app, args)
            assert r.exit_code == 0, f"kejin {' '.join(args)}\n{r.output}\n{r.exception!r}"
            if args[0] == "demo-accounts":
                passwords = {a["username"]: a["password"] for a in json.loads(r.stdout)}
        engine = make_engine(url)
        try:
            yield engine, passwords
        finally:
            engine.dispose()
    forget()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Demo]:
    from tests.people import add_people

    from kejin.api import create_app

    tmp = tmp_path_factory.mktemp("walks")
    with demo_database(tmp, sqlite_template, _make_demo_argv(tmp)) as (engine, passwords):
        firms = _eligible_firms(engine, len(LANGS))
        assert len(firms) == len(LANGS), "the demo region has firms a programme would pay"
        password = secrets.token_urlsafe(12)
        add_people(
            engine,
            *(
                (f"walk_firm_{lang}", "enterprise_user", None, f)
                for lang, f in zip(LANGS, firms, strict=True)
            ),
            password=password,
        )
        passwords |= {f"walk_firm_{lang}": password for lang in LANGS}
        with live_server(create_app(engine, session_key="walk-test-key")) as base:
            yield Demo(
                base,
                passwords,
                dict(zip(LANGS, firms, strict=True)),
                vocabulary_codes(),
                institution_and_region_codes(engine),
                _usernames(engine),
            )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


HEADER_SPREAD = """() => {
  const tops = [...document.querySelectorAll('header > *')]
    .filter(e => e.getClientRects().length)
    .map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; });
  return Math.max(...tops) - Math.min(...tops);
}"""  # how far apart the middles of the header's visible items sit (one row: they are centred)


class Walk:
    """One person in one language: every page reached is checked (answer, codes, overflow) and
    the findings are kept for the end of the test, so one walk reports all it saw."""

    def __init__(self, browser: Any, demo: Demo, role: str, user: str, lang: str) -> None:
        self.demo, self.role, self.lang = demo, role, lang
        self.ctx = browser.new_context(
            base_url=demo.base,
            viewport={"width": 1280, "height": 900},
            locale="en-GB" if lang == "en" else "zh-CN",
        )
        self.page = self.ctx.new_page()
        self.found: list[str] = []
        self.seen: list[str] = []
        self.page.on("response", self._answer)
        self.page.goto(f"/login?lang={lang}")
        self.page.fill("input[name=username]", user)
        self.page.fill("input[name=password]", demo.passwords[user])
        self.page.click("form[action^='/login'] button[type=submit]")
        self.page.wait_for_load_state()
        assert "/login" not in self.page.url, f"{user} could not log in"
        self.check()

    def _answer(self, response: Any) -> None:
        req = response.request
        if req.resource_type == "document" and response.status >= 400:
            self.found.append(f"{req.url} answered {response.status}")

    @property
    def path(self) -> str:
        u = urlsplit(self.page.url)
        return u.path + ("?" + u.query if u.query else "")

    def check(self) -> None:
        """The page now shown: in the walk's language, no unlabelled code, no overflow."""
        self.page.wait_for_load_state()
        url = self.path
        self.seen.append(url)
        html_lang = self.page.get_attribute("html", "lang") or ""
        if not html_lang.startswith(self.lang):
            self.found.append(f"{url}: page in {html_lang!r}, walk in {self.lang}")
        people = self.demo.people
        text = visible_text(self.page.content())
        bad = unlabelled(text, self.lang, self.demo.codes, self.demo.named, people)
        if bad:
            self.found.append(f"{url}: {', '.join(bad)}")
        wide = self.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        if wide > 1:
            self.found.append(f"{url}: {wide}px wider than the 1280px window")
        spread = self.page.evaluate(HEADER_SPREAD)
        if spread > 16:  # a second row sits a line (> 20px) below the first
            self.found.append(f"{url}: the header wraps onto a second row at 1280px")

    def go(self, path: str) -> None:
        sep = "&" if "?" in path else "?"
        self.page.goto(f"{path}{sep}lang={self.lang}")
        self.check()

    def click(self, selector: str) -> None:
        with self.page.expect_navigation():
            self.page.locator(selector).first.click()
        self.check()

    def shot(self, name: str) -> None:
        SCREENS.mkdir(parents=True, exist_ok=True)
        path = SCREENS / f"{self.role}-{name}-{self.lang}.png"
        self.page.screenshot(path=str(path), full_page=True)

    def links(self, pattern: str) -> list[str]:
        """The page's links whose path matches ``pattern`` (in page order, no repeats)."""
        hrefs = self.page.eval_on_selector_all(
            "a[href]", "els => els.map(e => e.getAttribute('href'))"
        )
        paths = [urlsplit(h).path for h in hrefs if h and h.startswith("/")]
        return list(dict.fromkeys(p for p in paths if re.fullmatch(pattern, p)))

    def done(self) -> None:
        self.ctx.close()
        assert len(self.seen) >= 4, f"{self.role} {self.lang} reached only {self.seen}"
        assert not self.found, f"{self.role} {self.lang}:\n" + "\n".join(self.found)


def _rows(w: Walk, table: str) -> int:
    """Data rows of a table (not its header, nor the one cell saying it is empty)."""
    return w.page.locator(f"#{table} tr:has(td):not(:has(td[colspan]))").count()


@pytest.mark.parametrize("lang", LANGS)
def test_enterprise_applies_for_what_its_policies_page_offers(demo: Demo, browser, lang) -> None:  # type: ignore[no-untyped-def]
    w = Walk(browser, demo, "enterprise", f"walk_firm_{lang}", lang)
    assert urlsplit(w.page.url).path == "/enterprise"
    w.shot("home")
    w.click("a[href^='/enterprise/policies']")
    w.shot("policies")
    apply = "#open-table form[action^='/enterprise/policies/apply'] button"
    offered = w.page.locator(apply).count()
    assert offered >= 1, "the policies page offers the eligible firm nothing to apply for"
    before = _rows(w, "my-applications")
    for _ in range(offered):  # every offer is one the firm can take, until none is left
        w.click(apply)
        assert urlsplit(w.page.url).path == "/enterprise/policies"  # post/redirect/get
        assert w.page.locator(".err, .bad").count() == 0, w.page.inner_text("main")
    assert w.page.locator(apply).count() == 0
    assert _rows(w, "my-applications") == before + offered
    w.shot("applied")
    # the rest of the firm's own pages: its points, and the financing market
    for link in w.links(r"/firms/\w+/points|/enterprise/market"):
        w.go(link)
        w.shot(link.rsplit("/", 1)[-1])
    w.done()
    # the demo's own firm account reads the same pages (what `make demo` hands a user)
    d = Walk(browser, demo, "demo-firm", "demo_firm", lang)
    for link in d.links(r"/enterprise/policies|/firms/\w+/points|/enterprise/market"):
        d.go(link)
        d.shot(link.rsplit("/", 1)[-1])
    d.done()


@pytest.mark.parametrize("lang", LANGS)
def test_bank_decides_then_reads_the_evidence_pack_and_back(demo: Demo, browser, lang) -> None:  # type: ignore[no-untyped-def]
    w = Walk(browser, demo, "bank", "demo_bank", lang)
    assert urlsplit(w.page.url).path == "/bank"
    w.shot("home")
    firm = w.links(r"/firms/[0-9A-Z]{18}")[0]  # a firm that consented to this bank
    w.click(f"a[href='{firm}']")
    w.shot("firm")
    w.click(f"form[action^='{firm}/credit'] button")
    decision = urlsplit(w.page.url).path
    assert re.fullmatch(r"/bank/credit/\d+", decision), decision  # post/redirect/get
    w.shot("decision")
    for a in ("json", "xlsx"):  # the pack's downloads answer
        href = w.page.get_attribute(f"a[href$='evidence.{a}']", "href")
        assert href and w.page.request.get(href).status == 200, a
    # the other language, on the same decision
    other = "en" if lang == "zh" else "zh"
    w.page.click("#lang-switch")
    w.page.wait_for_load_state()
    assert urlsplit(w.page.url).path == decision
    assert (w.page.get_attribute("html", "lang") or "").startswith(other)
    w.page.click("#lang-switch")  # and back: a GET page survives the switch both ways
    w.check()
    assert urlsplit(w.page.url).path == decision
    w.click(f"a[href='{firm}']")  # back to the firm …
    assert urlsplit(w.page.url).path == firm
    w.page.go_back()  # … and forth again, to the decision (a GET, no resubmission)
    w.check()
    assert urlsplit(w.page.url).path == decision
    w.click("a[href='/bank/credit']")  # the bank's decisions list it
    assert decision in w.links(r"/bank/credit/\d+")
    w.shot("decisions")
    for page in ("/bank/whitelist", "/bank/claims", "/bank/market"):
        w.go(page)
        w.shot(page.rsplit("/", 1)[-1])
    w.done()


@pytest.mark.parametrize("lang", LANGS)
def test_government_reviews_approves_pays_and_reads_the_dashboard(
    demo: Demo, browser, lang
) -> None:  # type: ignore[no-untyped-def]
    gov = Walk(browser, demo, "government", "demo_gov", lang)
    assert urlsplit(gov.page.url).path == "/dashboard"
    assert gov.page.locator("svg").count() >= 1  # the dashboard draws its figures
    region = load_region("lianyungang")  # and says which region they are of
    assert gov.page.inner_text("#region-name") == (
        region.name_en if lang == "en" else region.name_zh
    )
    gov.shot("dashboard")
    gov.go("/firms")
    gov.shot("firms")
    gov.click("a[href^='/firms/9']")  # a firm's profile from the list
    gov.shot("firm")
    gov.go("/policies")
    gov.shot("policies")
    review = "form[action*='/review'] button[value=accept]"
    programme = None
    for link in gov.links(r"/policies/[^/]+"):
        gov.go(link)
        if gov.page.locator(review).count():
            programme = link
            break
    assert programme is not None, "no application awaits review after the demo"
    app_row = gov.page.locator(f"tr:has({review})").first.get_attribute("id")
    gov.click(review)
    assert urlsplit(gov.page.url).path == programme  # post/redirect/get, back on the programme
    assert gov.page.locator(f"#{app_row} {review}").count() == 0  # reviewed
    gov.shot("programme")
    # the second person approves (maker-checker)
    rev = Walk(browser, demo, "reviewer", "demo_reviewer", lang)
    rev.go("/policies")
    rev.go(programme)
    rev.click("#approve-form button")
    assert urlsplit(rev.page.url).path == programme
    rev.shot("approved")
    rev.done()
    # and the officer pays what was approved
    gov.go(programme)
    pay = f"#{app_row} form[action*='/pay'] button"
    assert gov.page.locator(pay).count() == 1, "the approved application is offered for payment"
    gov.click(pay)
    assert gov.page.locator(f"#{app_row} form").count() == 0  # paid: nothing left to do on it
    for page in ("/fund", "/whitelist", "/market", "/dashboard"):
        gov.go(page)
        gov.shot(page.strip("/"))
    gov.done()


@pytest.mark.parametrize("lang", LANGS)
def test_auditor_verifies_the_chain_and_finds_the_others_acts(demo: Demo, browser, lang) -> None:  # type: ignore[no-untyped-def]
    w = Walk(browser, demo, "auditor", "demo_auditor", lang)
    w.go("/audit")
    w.shot("log")
    w.click("#verify")
    state = w.page.locator("#chain-state")
    assert state.count() == 1 and "notice" in (state.get_attribute("class") or "")
    assert w.page.locator("#chain-unkeyed").count() == 0  # the demo's chain is keyed
    w.shot("verified")
    # the CLI's demo acts are in the log under the people who took them
    w.page.select_option("#audit-action", "policy.")  # the area filter, then one action
    w.click("form[action='/audit'] button")
    assert w.page.locator("#audit-table tr:has(td code)").count() >= 1
    w.go("/audit?action=policy.publish")
    rows = w.page.locator("#audit-table tr:has(td code)")
    assert rows.count() >= 1
    assert "demo_reviewer" in rows.first.inner_text()
    w.shot("filtered")
    w.go("/dashboard")
    w.done()
