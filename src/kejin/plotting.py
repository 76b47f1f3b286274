"""Matplotlib for the report charts (PNG files): headless, with a font that has Chinese.

Matplotlib caches the system's font list the first time it runs. A CJK font installed after
that — ``make demo`` installs Debian's Noto CJK on a fresh machine, and any earlier import of
matplotlib has already written the cache — stays unknown to it, and every Chinese label then
renders as tofu boxes with only a warning on stderr. So the font files fontconfig reports are
registered here whenever the cached list lacks the family.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from typing import Any

CJK_FAMILY = "Noto Sans CJK SC"


@cache
def _ensure_cjk_font() -> bool:
    from matplotlib import font_manager

    if any(f.name == CJK_FAMILY for f in font_manager.fontManager.ttflist):
        return True
    if shutil.which("fc-list") is None:
        return False
    files = subprocess.run(
        ["fc-list", f":family={CJK_FAMILY}", "file"], capture_output=True, text=True, check=False
    ).stdout.split()
    for path in sorted({f.rstrip(":") for f in files}):
        font_manager.fontManager.addfont(path)
    return any(f.name == CJK_FAMILY for f in font_manager.fontManager.ttflist)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend with the CJK font first in the family list."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _ensure_cjk_font()
    plt.rcParams["font.family"] = [CJK_FAMILY, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt
