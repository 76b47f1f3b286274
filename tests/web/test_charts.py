"""Server-rendered SVG bar charts: labels stay inside the picture, whatever their length."""

from __future__ import annotations

import re
from pathlib import Path
from xml.etree import ElementTree

from kejin.web import charts

NS = {"s": "http://www.w3.org/2000/svg"}
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


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


# --- the radar chart: axis labels wrap and the picture grows to hold them (issue 16) ---------

ENGLISH_AXES = [
    "R&D expense",
    "R&D expense growth",
    "R&D intensity",
    "R&D staff share",
    "invention patents",
    "other IP",
    "technology-contract turnover",
    "high-tech product revenue",
    "revenue growth",
    "return on net assets",
    "revenue",
    "tax paid",
    "debt ratio",
    "fresh graduates hired",
    "venture financing received",
    "S&T awards",
    "R&D platforms",
    "standards led",
]
CHINESE_AXES = [
    "研发费用金额",
    "研发费用增长率",
    "研发费用占营业收入比例",
    "研发人员占比",
    "有效发明专利数",
    "其他知识产权数",
    "技术合同成交额",
    "高新技术产品收入",
    "营业收入增长率",
    "净资产利润率",
    "营业收入",
    "纳税总额",
    "资产负债率",
    "当年吸纳高校应届毕业生人数",
    "获得风险投资金额",
    "科技奖励",
    "研发平台",
    "主导制定标准",
]


def _radar(labels: list[str]) -> str:
    return charts.radar(
        "Indicator scores", [(lab, (k % 5) / 4, 0.5) for k, lab in enumerate(labels)]
    )


def _axis_labels(svg: str) -> list[tuple[str, list[tuple[float, float, str]], str]]:
    """(anchor, [(x, baseline y, line)], tooltip) of each axis label."""
    root = ElementTree.fromstring(svg)
    return [
        (
            text.get("text-anchor"),
            [(float(s.get("x")), float(s.get("y")), s.text) for s in text.findall("s:tspan", NS)],
            text.find("s:title", NS).text,
        )
        for text in root.iter(f"{{{NS['s']}}}text")
        if text.get("class") == "axis"
    ]


def test_radar_labels_are_whole_words_and_lie_inside_the_picture() -> None:
    """By the chart's own width estimate: every word of every label is drawn, and each line's
    extent (after its anchor) is inside the view box — "ancing received" was a cut label."""
    for labels in (ENGLISH_AXES, CHINESE_AXES):
        svg = _radar(labels)
        x0, y0, w, h = (float(v) for v in ElementTree.fromstring(svg).get("viewBox").split())
        drawn = _axis_labels(svg)
        assert [tip for _, _, tip in drawn] == labels
        for anchor, lines, label in drawn:
            sep = " " if " " in label else ""
            assert sep.join(line for _, _, line in lines) == label
            for x, y, line in lines:
                width = charts._text_width(line, charts.RADAR_FONT)
                left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
                assert x0 <= left and left + width <= x0 + w, (label, line)
                assert y0 <= y - charts.RADAR_FONT and y <= y0 + h, (label, line)


def test_radar_labels_measured_by_a_browser_fit_and_do_not_overlap() -> None:
    """The browser's own text extents (Chromium, the page font): each axis label inside the
    picture, no two labels on top of each other. Screenshots go to tests/artifacts/."""
    import pytest

    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Chromium missing: apt-get install -y chromium")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        try:
            page = b.new_page()
            for lang, labels in (("en", ENGLISH_AXES), ("zh", CHINESE_AXES)):
                page.set_content(
                    "<body style=\"margin:0;font-family:'Noto Sans CJK SC',sans-serif\">"
                    f"{_radar(labels)}</body>"
                )
                page.locator("svg").screenshot(path=str(ARTIFACTS / f"radar-{lang}.png"))
                view, boxes = page.evaluate(
                    """() => {
                        const svg = document.querySelector('svg');
                        const v = svg.viewBox.baseVal;
                        return [[v.x, v.y, v.width, v.height],
                                [...svg.querySelectorAll('text.axis')].map(t => {
                                    const b = t.getBBox();
                                    return [b.x, b.y, b.width, b.height];
                                })];
                    }"""
                )
                vx, vy, vw, vh = view
                assert len(boxes) == len(labels)
                for (x, y, w, h), label in zip(boxes, labels, strict=True):
                    assert vx <= x and x + w <= vx + vw, f"{lang}: {label!r} cut at a side"
                    assert vy <= y and y + h <= vy + vh, f"{lang}: {label!r} cut at top/bottom"
                for i, (ax, ay, aw, ah) in enumerate(boxes):
                    for bx, by, bw, bh in boxes[i + 1 :]:
                        apart = ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay
                        assert apart, f"{lang}: {labels[i]!r} overlaps another label"
        finally:
            b.close()
