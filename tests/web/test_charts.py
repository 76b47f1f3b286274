"""Server-rendered SVG bar charts: labels stay inside the picture, whatever their length."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from kejin.web import charts

NS = {"s": "http://www.w3.org/2000/svg"}


def _labels(svg: str) -> list[tuple[float, str, str]]:
    """(right edge x, shown text, tooltip) of each row label."""
    root = ElementTree.fromstring(svg)
    out = []
    for g in root.findall("s:g", NS):
        title = g.find("s:title", NS).text
        text = g.find("s:text", NS)
        out.append((float(text.get("x")), text.text, title))
    return out


def test_a_long_label_is_cut_in_the_middle_inside_the_picture_and_kept_whole_as_tooltip() -> None:
    pool = "江苏省苏州市科技型中小企业信贷风险补偿资金池（第二期）"
    rows = [(pool, 1_000_000), (pool + " · 在保余额", 250_000), ("招商银行", 9)]
    labels = _labels(charts.hbar("资金池", rows))
    for (x, shown, tip), (label, _) in zip(labels, rows, strict=True):
        # right-aligned at x: the drawn text must start at or after the picture's left edge
        assert x - charts._text_width(shown) >= 0
        assert tip == label
        head, _, tail = shown.partition("…")
        assert label.startswith(head) and label.endswith(tail)
    # rows that differ only at the end must still read differently
    assert labels[0][1] != labels[1][1] and labels[1][1].endswith("在保余额")
    assert labels[2][1] == "招商银行"


def test_labels_that_fit_are_not_cut_and_the_bars_keep_their_order() -> None:
    data = [("北京", 3), ("上海", 2), ("Shenzhen", 1)]
    svg = charts.hbar("t", data)
    assert [shown for _, shown, _ in _labels(svg)] == ["北京", "上海", "Shenzhen"]
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([0-9.]+)"', svg)]
    assert widths[0] > widths[1] > widths[2]
