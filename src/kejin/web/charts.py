"""Bar charts as inline SVG, rendered on the server: no JavaScript, no CDN, crisp at any zoom.

The browser draws the text with the page's fonts (Noto Sans CJK where installed), so Chinese
labels render like the rest of the page.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from html import escape

PALETTE = ("#1f5fa8", "#2f8f6f", "#c0772b", "#8a4fb0", "#b03a48", "#4a7f9c")


def _fmt(v: float, lang: str = "zh") -> str:
    """Compact numbers for bar labels, in the reader's units.

    >>> _fmt(1234567)
    '123.5万'
    >>> _fmt(1234567, "en")
    '1.2M'
    >>> _fmt(42)
    '42'
    """
    if lang == "en":
        for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if abs(v) >= div:
                return f"{v / div:.1f}{unit}"
        return f"{v:g}"
    if abs(v) >= 1e8:
        return f"{v / 1e8:.1f}亿"
    if abs(v) >= 1e4:
        return f"{v / 1e4:.1f}万"
    return f"{v:g}"


def _text_width(text: str, size: int = 12) -> float:
    """Rough rendered width: CJK glyphs are square, Latin ones about half as wide."""
    return sum(size if ord(c) > 0x2E80 else size * 0.56 for c in text)


def _fit_label(text: str, room: float, size: int = 12) -> str:
    """The label cut to ``room`` pixels, the ellipsis in the middle: the left margin is capped so
    the bars keep their width, and a glyph clipped at the SVG edge reads as a different word.
    Rows often differ only at the end (a pool's balance and its enrolled balance), so the tail
    is kept with the head. The full label stays in the row's tooltip.

    >>> _fit_label("江苏省苏州市科技型中小企业信贷风险补偿资金池 · 在保余额", 200)
    '江苏省苏州市科技型…池 · 在保余额'
    >>> _fit_label("short", 120)
    'short'
    """
    if _text_width(text, size) <= room:
        return text
    tail = ""
    for c in reversed(text):
        if _text_width(c + tail, size) > 0.45 * room:
            break
        tail = c + tail
    head, budget = "", room - _text_width(tail + "…", size)
    for c in text:
        if _text_width(head + c, size) > budget:
            break
        head += c
    return head + "…" + tail


def hbar(
    title: str,
    data: list[tuple[str, float | int | Decimal]],
    color: int = 0,
    width: int = 460,
    lang: str = "zh",
) -> str:
    """A horizontal bar chart: one labelled row per (label, value), largest bar full width."""
    row_h, top, right = 24, 30, 70
    left = int(min(260, max([60.0] + [_text_width(str(lab)) for lab, _ in data]) + 12))
    width = max(width, left + 240 + right)
    height = top + row_h * max(len(data), 1) + 10
    vmax = max((float(v) for _, v in data), default=0.0) or 1.0
    span = width - left - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f'<text x="4" y="18" class="chart-title" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if not data:
        parts.append(f'<text x="{left}" y="{top + 16}" font-size="12" fill="#666">—</text>')
    for i, (lab, v) in enumerate(data):
        y = top + i * row_h
        w = max(1.0, span * float(v) / vmax)
        shown = _fit_label(str(lab), left - 10)
        parts.append(
            f"<g><title>{escape(str(lab))}</title>"
            f'<text x="{left - 6}" y="{y + 16}" font-size="12" text-anchor="end">{escape(shown)}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" fill="{PALETTE[color % len(PALETTE)]}"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + 16}" font-size="12">{escape(_fmt(float(v), lang))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def wrap_label(text: str, room: float, size: int) -> list[str]:
    """The label in as few lines as fit ``room`` pixels, of even length: broken at spaces where
    it has them (English), between any two glyphs where it has none (Chinese). Never cut.

    >>> wrap_label("high-tech product revenue", 100, 11)
    ['high-tech', 'product revenue']
    >>> wrap_label("研发费用占营业收入比例", 100, 11)
    ['研发费用占营', '业收入比例']
    >>> wrap_label("R&D expense", 100, 11)
    ['R&D expense']
    """
    words = text.split(" ") if " " in text else list(text)
    sep = " " if " " in text else ""

    def fill(limit: float) -> list[str]:
        lines: list[str] = []
        for w in words:
            if lines and _text_width(lines[-1] + sep + w, size) <= limit:
                lines[-1] += sep + w
            else:
                lines.append(w)
        return lines

    fewest = len(fill(room))
    # the narrowest line limit that still needs no more lines: the lines come out even
    spans = sorted(
        _text_width(sep.join(words[i:j]), size)
        for i in range(len(words))
        for j in range(i + 1, len(words) + 1)
    )
    return next(fill(w) for w in spans if len(fill(w)) <= fewest)


#: Radar axis labels: font size, line height and the widest a line may be (px).
RADAR_FONT, RADAR_LINE, RADAR_LABEL_ROOM = 11, 13, 112


def radar(title: str, axes: list[tuple[str, float, float | None]], r: int = 130) -> str:
    """A radar (spider) chart: one axis per (label, score 0–1, peer median 0–1 or None).

    The firm's polygon is filled; the peer median is a dashed outline, so the reader sees where
    the firm stands above or below its peers on each indicator. Labels wrap onto lines and the
    picture grows to hold them: an English label is several times a Chinese one's width, and a
    label cut at the picture's edge reads as another word ("ancing received").
    """
    import math

    n = max(len(axes), 3)
    fs, lh = RADAR_FONT, RADAR_LINE

    def pt(i: int, v: float) -> tuple[float, float]:
        a = -math.pi / 2 + 2 * math.pi * i / n
        return r * v * math.cos(a), r * v * math.sin(a)

    # Everything is placed around the centre (0, 0), then the view box is fitted around it all.
    boxes = [(-r, -r, r, r)]
    labels = []
    for i, (lab, _, _) in enumerate(axes):
        lx, ly = pt(i, 1.08)
        lines = wrap_label(lab, RADAR_LABEL_ROOM, fs)
        widest = max(_text_width(x, fs) for x in lines)
        anchor = "middle" if abs(lx) < 8 else ("start" if lx > 0 else "end")
        x0 = {"middle": lx - widest / 2, "start": lx, "end": lx - widest}[anchor]
        block = lh * len(lines)
        # above the top axis, below the bottom one, centred beside the others
        top = ly - block / 2 if anchor != "middle" else (ly - block if ly < 0 else ly)
        labels.append([lab, lx, top, anchor, lines, x0, widest, block])
    # Side labels of many axes stack closely: push each down clear of the one above it.
    for side in ("start", "end"):
        prev_bottom = -math.inf
        for lab_ in sorted((x for x in labels if x[3] == side), key=lambda x: x[2]):
            lab_[2] = max(lab_[2], prev_bottom + 2)
            prev_bottom = lab_[2] + lab_[7]
    boxes += [(x0, top, x0 + w, top + block) for _, _, top, _, _, x0, w, block in labels]
    pad = 8
    left = min(b[0] for b in boxes) - pad
    right = max(max(b[2] for b in boxes) + pad, left + _text_width(title, 14) * 1.1 + 8)
    top = min(b[1] for b in boxes) - pad - 26  # the title's line above the chart
    bottom = max(b[3] for b in boxes) + pad
    width, height = right - left, bottom - top
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart radar" role="img" aria-label="{escape(title)}" '
        f'viewBox="{left:.1f} {top:.1f} {width:.1f} {height:.1f}" width="{width:.0f}" height="{height:.0f}" '
        # narrower than its labels need, the card scales the whole picture down, never cuts it
        'style="max-width:100%;height:auto">',
        f'<text x="{left + 4:.1f}" y="{top + 18:.1f}" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    for ring in (0.25, 0.5, 0.75, 1.0):
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, ring) for i in range(n)))
        parts.append(f'<polygon points="{pts}" fill="none" stroke="#d9dee5"/>')
    for i, (lab, lx, ltop, anchor, lines, *_) in enumerate(labels):
        x, y = pt(i, 1.0)
        spans = "".join(
            f'<tspan x="{lx:.1f}" y="{ltop + lh * k + fs:.1f}">{escape(line)}</tspan>'
            for k, line in enumerate(lines)
        )
        parts.append(
            f'<line x1="0" y1="0" x2="{x:.1f}" y2="{y:.1f}" stroke="#d9dee5"/>'
            f'<text class="axis" font-size="{fs}" text-anchor="{anchor}"><title>{escape(lab)}</title>{spans}</text>'
        )
    peer = [(i, m) for i, (_, _, m) in enumerate(axes) if m is not None]
    if len(peer) == len(axes) and axes:
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (pt(i, m) for i, m in peer))
        parts.append(
            f'<polygon points="{pts}" fill="none" stroke="#c0772b" stroke-dasharray="4 3"/>'
        )
    if axes:
        pts = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in (pt(i, max(0.0, min(1.0, v))) for i, (_, v, _) in enumerate(axes))
        )
        parts.append(
            f'<polygon points="{pts}" fill="#1f5fa8" fill-opacity="0.35" stroke="#1f5fa8" stroke-width="2"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def line(
    title: str,
    points: list[tuple[str, float | None]],
    fmt: Callable[[float], str],
    color: int = 0,
    width: int = 640,
    height: int = 240,
) -> str:
    """A line over labelled points (months); a missing value (None) breaks the line and is
    shown as a gap, never as zero. Every point carries its value as a tooltip and a label."""
    left, right, top, bottom = 70, 16, 30, 46
    vals = [v for _, v in points if v is not None]
    lo, hi = (min(vals), max(vals)) if vals else (0.0, 1.0)
    if lo == hi:
        lo, hi = lo - (abs(lo) or 1) * 0.1, hi + (abs(hi) or 1) * 0.1
    span_x, span_y = width - left - right, height - top - bottom
    step = span_x / max(len(points) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + span_y * (1 - (v - lo) / (hi - lo))

    c = PALETTE[color % len(PALETTE)]
    parts = [
        # Scales down to its card (a trend of 12 months is wider than a half-width card).
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px;height:auto">',
        f'<text x="4" y="18" class="chart-title" font-size="14" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + span_y}" x2="{width - right}" y2="{top + span_y}" stroke="#d9dee5"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="11" text-anchor="end">{escape(fmt(hi))}</text>',
        f'<text x="{left - 6}" y="{top + span_y}" font-size="11" text-anchor="end">{escape(fmt(lo))}</text>',
    ]
    if not vals:
        parts.append(
            f'<text x="{left + 10}" y="{top + span_y / 2}" font-size="12" fill="#666">—</text>'
        )
    run: list[str] = []
    for i, (lab, v) in enumerate(points):
        x = left + i * step
        # Hung from just under the axis: rotated -35°, an end-anchored label runs down and to
        # the left of its point, into the bottom margin (anchored at the bottom it ran out).
        ly = top + span_y + 12
        parts.append(
            f'<text x="{x:.1f}" y="{ly}" font-size="10" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {ly})">{escape(lab)}</text>'
        )
        if v is None:
            if len(run) > 1:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{c}" stroke-width="2"/>'
                )
            run = []
            continue
        px, py = xy(i, v)
        run.append(f"{px:.1f},{py:.1f}")
        parts.append(
            f"<g><title>{escape(lab)}: {escape(fmt(v))}</title>"
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{c}"/></g>'
        )
    if len(run) > 1:
        parts.append(
            f'<polyline points="{" ".join(run)}" fill="none" stroke="{c}" stroke-width="2"/>'
        )
    parts.append("</svg>")
    return "".join(parts)
