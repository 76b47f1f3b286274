"""``make messages``: bring every language's catalog up to date with the texts the code asks for.

Extracts the message ids (Babel, ``babel.cfg``: ``t('key')`` in templates and code, ``N_('key')``
where the key is picked at run time) into ``locale/kejin.pot``, then merges it into each
``locale/<lang>/LC_MESSAGES/kejin.po``: a new key arrives with an empty text to fill in (``make
locale`` refuses to compile until it is filled), a key no longer asked for leaves.

Keys built from a code on the page (``t('fund_st_' + c.status)``: a *family*) cannot be extracted;
the Chinese catalog is their source: its ids that begin with a family's prefix found in the code
are kept in the template, so adding one is adding it to ``zh/.../kejin.po`` (and the other
languages), and the merge keeps it.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from kejin.web.catalogs import DEFAULT, DOMAIN, LOCALE_DIR, po_files

PACKAGE = Path(__file__).parents[1]
CONFIG = PACKAGE.parents[1] / "babel.cfg"
POT = LOCALE_DIR / f"{DOMAIN}.pot"
KEYWORDS = {"t": None, "N_": None}
#: ``t('prefix' + …)`` or ``t('prefix' ~ …)``: a key made of a literal prefix and a code.
FAMILY = re.compile(r"""\bt\(\s*['"]([A-Za-z0-9_-]+)['"]\s*[+~]""")


def extracted(package: Path = PACKAGE, config: Path = CONFIG) -> dict[str, list[tuple[str, int]]]:
    """Every literal message id in the code and templates, with where it is asked for."""
    with config.open() as f:
        method_map, options_map = parse_mapping_cfg(f, str(config))
    out: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(package), method_map, options_map, keywords=KEYWORDS
    ):
        if isinstance(message, str) and message:
            out.setdefault(message, []).append((filename, lineno))
    return out


def families(package: Path = PACKAGE) -> set[str]:
    """The prefixes of keys built at run time from a code (``t('fund_st_' + c.status)``)."""
    found: set[str] = set()
    for path in package.rglob("*"):
        if path.suffix in (".py", ".html"):
            found.update(FAMILY.findall(path.read_text(encoding="utf-8")))
    return found


def read(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f, domain=DOMAIN)


def template(ids: dict[str, list[tuple[str, int]]], family_ids: Iterable[str]) -> Catalog:
    """The ``.pot``: the extracted ids and the family ids the Chinese catalog holds."""
    pot = Catalog(domain=DOMAIN, project="kejin", fuzzy=False)
    for key, where in sorted(ids.items()):
        pot.add(key, locations=where)
    for key in sorted(set(family_ids) - set(ids)):
        pot.add(key, auto_comments=["key built at run time from a code (see kejin.web.messages)"])
    return pot


def family_ids(catalog: Catalog, prefixes: Iterable[str]) -> list[str]:
    """The ids in ``catalog`` that belong to one of the ``prefixes``' families."""
    pre = tuple(prefixes)
    return [m.id for m in catalog if m.id and m.id.startswith(pre)]


def update(locale_dir: Path = LOCALE_DIR) -> Catalog:
    """Write the ``.pot`` and merge it into every language's ``.po`` (no fuzzy guesses: a key is
    a name, and a text guessed from a similar key would be a wrong text). Locations name files,
    not lines, so an edit elsewhere in a template does not rewrite every catalog."""
    pos = po_files(locale_dir)
    pot = template(extracted(), family_ids(read(pos[DEFAULT]), families()))
    with (locale_dir / f"{DOMAIN}.pot").open("wb") as f:
        write_po(f, pot, width=100, include_lineno=False)
    for po in pos.values():
        catalog = read(po)
        catalog.update(pot, no_fuzzy_matching=True, update_creation_date=False)
        with po.open("wb") as f:
            write_po(f, catalog, width=100, ignore_obsolete=True, include_lineno=False)
    return pot


def adopt(sources: Iterable[Path], replace: bool = False, locale_dir: Path = LOCALE_DIR) -> None:
    """Move texts written the old way — a dict of ``key: (中文, English)`` pairs, as branches begun
    before the catalogs still write them — into the zh and en catalogs. A key the catalogs lack
    is added; one they hold with other words is listed, and taken only with ``replace``."""
    pairs: dict[str, tuple[str, str]] = {}
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Dict):
                for k, v in zip(node.keys, node.values, strict=True):
                    try:
                        key, value = ast.literal_eval(k), ast.literal_eval(v)  # type: ignore[arg-type]
                    except (ValueError, TypeError, SyntaxError):
                        continue
                    if isinstance(key, str) and isinstance(value, tuple) and len(value) == 2:
                        pairs[key] = value
    pos = po_files(locale_dir)
    for i, lang in enumerate(("zh", "en")):
        catalog = read(pos[lang])
        for key, texts in sorted(pairs.items()):
            old = catalog.get(key)
            if old is None or not old.string:
                catalog.add(key, texts[i])
                print(f"{lang}: + {key}")
            elif old.string != texts[i]:
                if replace:
                    old.string = texts[i]
                print(
                    f"{lang}: {'replaced' if replace else 'differs (kept)'} {key}: {old.string!r} / {texts[i]!r}"
                )
        with pos[lang].open("wb") as f:
            write_po(f, catalog, width=100, include_lineno=False)


if __name__ == "__main__":
    # ``python -m kejin.web.messages``: what ``make messages`` runs.
    # ``python -m kejin.web.messages adopt [--replace] FILE.py…``: old-style text dicts → catalogs.
    if sys.argv[1:2] == ["adopt"]:
        args = sys.argv[2:]
        adopt([Path(a) for a in args if a != "--replace"], replace="--replace" in args)
    pot = update()
    print(f"{len(pot)} message ids → {POT} and {', '.join(po_files())}")
