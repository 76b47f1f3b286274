"""Page texts are gettext catalogs: complete in every language, in step with the code, and the
only place page texts live (issue 16, "Codes where people read words")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kejin.web import catalogs, messages
from kejin.web.i18n import t, texts

SRC = Path(__file__).resolve().parents[2] / "src" / "kejin"
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def extracted() -> dict[str, list[tuple[str, int]]]:
    return messages.extracted()


@pytest.fixture(scope="module")
def po() -> dict[str, dict[str, str]]:
    """Every language's .po as {id: text} (what people edit, not the compiled .mo)."""
    return {
        lang: {m.id: m.string for m in messages.read(path) if m.id}
        for lang, path in catalogs.po_files().items()
    }


def test_chinese_and_english_catalogs_exist(po: dict[str, dict[str, str]]) -> None:
    assert {"zh", "en"} <= set(po)
    assert catalogs.DEFAULT == "zh"


def test_every_text_the_code_asks_for_is_translated_in_every_catalog(
    extracted: dict[str, list[tuple[str, int]]], po: dict[str, dict[str, str]]
) -> None:
    assert len(extracted) > 400  # the templates' and page code's t('…') calls were found
    for lang, entries in po.items():
        missing = {k: where[0] for k, where in extracted.items() if not entries.get(k)}
        assert not missing, f"{lang}: no text for {missing} (run `make messages`, fill them in)"


def test_the_catalogs_hold_the_same_keys_and_none_the_code_no_longer_asks_for(
    extracted: dict[str, list[tuple[str, int]]], po: dict[str, dict[str, str]]
) -> None:
    prefixes = tuple(messages.families())
    assert "fund_st_" in prefixes and "pol_notice_" in prefixes
    zh = set(po["zh"])
    for lang, entries in po.items():
        assert set(entries) == zh, f"{lang} differs from zh: {sorted(set(entries) ^ zh)}"
        assert all(entries.values()), f"{lang}: empty texts"
    unused = sorted(k for k in zh if k not in extracted and not k.startswith(prefixes))
    assert not unused, f"catalog keys no code asks for: {unused}"


def test_the_template_is_what_make_messages_would_write(
    extracted: dict[str, list[tuple[str, int]]], po: dict[str, dict[str, str]]
) -> None:
    pot = messages.read(catalogs.LOCALE_DIR / "kejin.pot")
    fresh = messages.template(
        extracted,
        messages.family_ids(messages.read(catalogs.po_files()["zh"]), messages.families()),
    )
    assert {m.id for m in pot if m.id} == {m.id for m in fresh if m.id} == set(po["zh"])


def test_key_families_built_from_codes_have_a_text_for_each_code() -> None:
    """The families the pages build from a code: each of the codes they show has its text."""
    from kejin.fund.tables import CLAIM_STATES
    from kejin.ingest.kinds import KINDS

    zh = texts()["zh"]
    for state in CLAIM_STATES:
        assert zh[f"fund_st_{state}"]
    for kind in KINDS:
        assert zh[f"ingest_k_{kind}"]


def test_the_server_reads_the_compiled_catalogs(po: dict[str, dict[str, str]]) -> None:
    compiled = texts()
    assert set(compiled) == set(po)
    for lang, entries in po.items():
        assert compiled[lang] == entries
    assert t("login", "zh") == po["zh"]["login"] and t("login", "en") == po["en"]["login"]
    with pytest.raises(KeyError):
        t("no_such_key", "zh")


def test_a_po_edited_after_compiling_is_refused_until_compiled(tmp_path: Path) -> None:
    import os
    import shutil

    from kejin.web.i18n import _catalogs

    shutil.copytree(catalogs.LOCALE_DIR, tmp_path / "locale")
    po = tmp_path / "locale" / "en" / "LC_MESSAGES" / "kejin.po"
    mo = po.with_suffix(".mo")
    os.utime(mo, (po.stat().st_mtime - 10, po.stat().st_mtime - 10))
    with pytest.raises(RuntimeError, match="make locale"):
        _catalogs(tmp_path / "locale")
    catalogs.compile_catalogs(tmp_path / "locale")
    assert _catalogs(tmp_path / "locale")["en"]["login"] == "Log in"


def test_an_untranslated_message_is_refused_at_compile(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(catalogs.LOCALE_DIR, tmp_path / "locale")
    po = tmp_path / "locale" / "en" / "LC_MESSAGES" / "kejin.po"
    po.write_text(
        po.read_text(encoding="utf-8").replace('msgstr "Log in"', 'msgstr ""'), encoding="utf-8"
    )
    with pytest.raises(SystemExit, match="login"):
        catalogs.compile_catalogs(tmp_path / "locale")


def _text_pair_dicts() -> list[tuple[str, int, list[str]]]:
    """Dict literals in the package whose values are (Chinese, English) string pairs."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Dict) or not node.values:
                continue
            pairs = [
                v
                for v in node.values
                if isinstance(v, ast.Tuple)
                and len(v.elts) == 2
                and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in v.elts)
                and CJK.search(v.elts[0].value)
            ]
            if pairs and len(pairs) == len(node.values):
                keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
                found.append((str(path.relative_to(SRC)), node.lineno, keys))
    return found


#: The (zh, en) tables left in Python: each labels the codes of some data (the vocabulary's
#: side, like :mod:`kejin.vocab`), not a page's words. A new one must say which codes it labels.
CODE_LABEL_TABLES = {
    "ids.py": "region names by GB/T 2260 code",
    "matching/kernels.py": "whitelist tiers in match reasons",
    "whitelist/pages.py": "whitelist change reasons",
    "stats/definitions.py": "statistics measures",
    "stats/labels.py": "statistics breakdowns, populations and units",
    "stats/effect.py": "policy-effect outcomes",
    "fund/service.py": "enrolment statuses in refusal sentences",
    "policy/params.py": "parameter units",
    "policy/simulate.py": "simulation groupings",
    "policy/engine.py": "rounding rules",
    "policy/predicates.py": "predicate subjects",
    "access/accounts.py": "account origins",
    "credit/early_warning.py": "warning levels",
    "matching/approval.py": "approval-model factor groups in rank explanations",
}


def test_no_page_text_is_left_in_a_python_dict(po: dict[str, dict[str, str]]) -> None:
    """Page texts live in the catalogs; the (zh, en) tables left in Python are the known
    code-label tables, and no (zh, en) pair in Python repeats a page text."""
    import kejin.matching.texts as market
    import kejin.web.i18n as i18n

    assert not hasattr(i18n, "TEXTS") and not hasattr(market, "MARKET_TEXTS")
    # a sentence-long text met again in Python is a copy of a page text (a word like 无 may be both)
    pairs = {(po["zh"][k], po["en"][k]) for k in po["zh"] if len(po["zh"][k]) >= 6}
    tables = _text_pair_dicts()
    assert tables  # the scan sees the code-label tables, so it would see a page-text table
    for where, line, _keys in tables:
        assert where in CODE_LABEL_TABLES, (
            f"{where}:{line}: a (zh, en) table — page texts go to the .po catalogs "
            "(make messages), a code's labels to kejin.vocab"
        )
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Tuple) and len(node.elts) == 2:
                values = tuple(getattr(e, "value", None) for e in node.elts)
                assert values not in pairs, f"{path.relative_to(SRC)}:{node.lineno}: {values}"


def test_texts_written_in_an_old_style_dict_move_into_the_catalogs(tmp_path: Path) -> None:
    """Branches begun before the catalogs add ``key: (zh, en)`` to a dict: ``adopt`` moves them."""
    import shutil

    locale = tmp_path / "locale"
    shutil.copytree(catalogs.LOCALE_DIR, locale)
    old = tmp_path / "i18n.py"
    old.write_text(
        "TEXTS: dict[str, tuple[str, str]] = {\n"
        '    "login": ("登录", "Sign in"),\n'
        '    "app": ("科金 · 科技金融服务平台", "kejin · sci-tech finance platform"),\n'
        '    "wl_brand_new": ("新增的文字", "A text added on a branch"),\n'
        "}\n",
        encoding="utf-8",
    )
    messages.adopt([old], locale_dir=locale)
    po = {lang: messages.read(p) for lang, p in catalogs.po_files(locale).items()}
    assert po["zh"]["wl_brand_new"].string == "新增的文字"
    assert po["en"]["wl_brand_new"].string == "A text added on a branch"
    assert po["en"]["login"].string == "Log in"  # a different text is listed, not taken
    messages.adopt([old], replace=True, locale_dir=locale)
    assert messages.read(catalogs.po_files(locale)["en"])["login"].string == "Sign in"
