"""Report charts find the CJK font even when matplotlib's cached font list predates it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from kejin import plotting

HAS_CJK = bool(
    shutil.which("fc-list")
    and subprocess.run(
        ["fc-list", f":family={plotting.CJK_FAMILY}"], capture_output=True, text=True, check=False
    ).stdout.strip()
)


@pytest.mark.skipif(not HAS_CJK, reason="fonts-noto-cjk not installed (make test installs it)")
def test_a_font_list_cached_before_the_font_was_installed_is_repaired(monkeypatch) -> None:
    from matplotlib import font_manager

    stale = [f for f in font_manager.fontManager.ttflist if "CJK" not in f.name]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    assert plotting.CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}
    assert plotting._ensure_cjk_font.__wrapped__() is True
    names = {f.name for f in font_manager.fontManager.ttflist}
    assert plotting.CJK_FAMILY in names
