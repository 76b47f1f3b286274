"""A policy set aside by stacking names the policy that pays instead, by its title (issue 16:
no policy id such as ``karamay_interest`` on a page)."""

from __future__ import annotations

from sqlalchemy import Engine, update

from kejin.db import transaction
from kejin.lending.tables import Product
from kejin.policy import library

from .conftest import login
from .policy_data import qualify


def test_the_firm_policies_page_names_the_paying_policy_by_its_title(app, engine: Engine) -> None:
    qualify(engine)
    # F1's partner-bank loan becomes a digital-transformation loan: Ji'an's 0.5% of its balance
    # and Karamay's 20% of its interest cover the same interest, and the larger one pays.
    with transaction(engine) as s:
        s.execute(update(Product).where(Product.id == "BKA-P1").values(name="数字化转型专项贷"))
    ent = login(app, "ent")
    for lang in ("zh", "en"):
        page = ent.get(f"/enterprise/policies?lang={lang}")
        assert page.status_code == 200
        row = page.text.split('class="pol-set_aside"', 1)
        assert len(row) == 2, "the Ji'an subsidy is set aside"
        shown = row[1].split("</tr>", 1)[0]
        pays = library.get("karamay_interest")
        assert (pays.title_en if lang == "en" else pays.title_zh) in shown
        assert "karamay_interest" not in shown
