"""The page texts' gettext catalogs: where they live, which languages exist, how they compile.

Each language is one file, ``locale/<lang>/LC_MESSAGES/kejin.po`` (message ids are the keys the
templates pass to ``t``, message strings the words). The ``.po`` files are what people edit; the
server reads the compiled ``.mo`` beside each, built at install (``make install`` / ``pip
install`` run :func:`compile_catalogs` through ``setup.py``'s build step; ``make locale`` after
editing a ``.po``). The languages offered are the catalogs present, so a third language is a
file, not a code change.

This module imports only Babel, so the build step can use it before kejin's dependencies exist.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "kejin"
#: The first language of every page (the default when neither ``?lang=`` nor the cookie says).
DEFAULT = "zh"


def po_files(locale_dir: Path = LOCALE_DIR) -> dict[str, Path]:
    """Every language's editable catalog, by language code (the directory name)."""
    return {p.parents[1].name: p for p in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))}


def compile_catalogs(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    """Compile each ``.po`` to the ``.mo`` the server reads. Refuses a catalog with an empty
    translation (a page would show its key): the ``.po`` names the message to fill in."""
    written = []
    for po in po_files(locale_dir).values():
        with po.open("rb") as f:
            catalog = read_po(f, domain=DOMAIN)
        empty = [m.id for m in catalog if m.id and not m.string]
        if empty:
            raise SystemExit(
                f"{po}: {len(empty)} message(s) without a translation / 未翻译: {', '.join(empty[:10])}"
            )
        mo = po.with_suffix(".mo")
        with mo.open("wb") as f:
            write_mo(f, catalog)
        written.append(mo)
    return written


if __name__ == "__main__":  # ``python -m kejin.web.catalogs``: what ``make locale`` runs
    for path in compile_catalogs(Path(sys.argv[1]) if len(sys.argv) > 1 else LOCALE_DIR):
        print(f"compiled {path}")
