"""A third language is a file, not a code change: a catalog dropped beside zh and en is offered
on every page and its texts are what the page shows (issue 16)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from babel.messages.pofile import read_po, write_po
from fastapi.testclient import TestClient

from kejin.web import catalogs

from .conftest import login

FRENCH = {
    "lang_name": "Français",
    "lang_tag": "fr",
    "login": "Connexion",
    "username": "Identifiant",
    "dashboard": "Tableau de bord régional",
    "firms": "Annuaire des entreprises",
}


@pytest.fixture
def french(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped catalogs plus fr/LC_MESSAGES/kejin.po (English where not translated here),
    compiled as an install would, and the server pointed at them."""
    locale = tmp_path / "locale"
    shutil.copytree(catalogs.LOCALE_DIR, locale)
    with (locale / "en" / "LC_MESSAGES" / "kejin.po").open("rb") as f:
        catalog = read_po(f, locale="fr", domain=catalogs.DOMAIN)
    for key, text in FRENCH.items():
        catalog[key].string = text
    (locale / "fr" / "LC_MESSAGES").mkdir(parents=True)
    with (locale / "fr" / "LC_MESSAGES" / "kejin.po").open("wb") as f:
        write_po(f, catalog)
    catalogs.compile_catalogs(locale)
    monkeypatch.setattr(catalogs, "LOCALE_DIR", locale)
    return locale


def test_a_catalog_file_adds_a_language_every_page_offers_and_speaks(app, french: Path) -> None:
    anon = TestClient(app, raise_server_exceptions=False)
    page = anon.get("/login?lang=fr")
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text and "Connexion" in page.text
    assert "登录" not in page.text
    # the switch offers the other two, each by its own name
    assert ">中文</a>" in page.text and ">English</a>" in page.text

    gov = login(app, "gov")
    dash = gov.get("/dashboard?lang=fr")
    assert dash.status_code == 200
    assert "Tableau de bord régional" in dash.text and "Annuaire des entreprises" in dash.text
    assert gov.cookies.get("kejin_lang") == "fr"
    # remembered like zh and en: the next page without ?lang= is French too
    assert "Annuaire des entreprises" in gov.get("/firms").text
    # and the shipped languages are still offered from the French page
    assert 'href="/dashboard?lang=zh"' in dash.text and 'href="/dashboard?lang=en"' in dash.text


def test_a_language_without_a_catalog_is_not_offered(app) -> None:
    page = TestClient(app, raise_server_exceptions=False).get("/login?lang=fr")
    assert '<html lang="zh-CN">' in page.text and "登录" in page.text
    assert "Français" not in page.text
