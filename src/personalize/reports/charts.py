"""Hand-rolled SVG charts (no plotting dependency): lines, horizontal bars, interval plots."""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _pct(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{round(v * 100, 1) + 0.0:.1f}%"


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "–"
    v = round(v, 4) + 0.0  # no "-0"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.floor(lo / step) * step
    return [start + i * step for i in range(math.ceil((hi - start) / step) + 1)]


def line_chart(
    series: dict[str, list[tuple[str, float]]],
    title: str,
    width: int = 560,
    height: int = 260,
    percent: bool = False,
) -> str:
    """series: name -> [(x label, y)] sharing x labels (days)."""
    xs = sorted({x for pts in series.values() for x, _ in pts})
    ys = [y for pts in series.values() for _, y in pts if math.isfinite(y)]
    if not xs or not ys:
        return f'<svg width="{width}" height="60" {FONT}><text x="8" y="30">{escape(title)}: no data</text></svg>'
    left, right, top, bottom = 56, 190, 28, 40
    pw, ph = width - left - right, height - top - bottom
    ticks = _ticks(0.0, max(ys) * 1.05 or 1.0)
    ymax = ticks[-1]

    def px(i: int) -> float:
        return left + (pw * i / (len(xs) - 1) if len(xs) > 1 else pw / 2)

    def py(y: float) -> float:
        return top + ph - ph * y / ymax

    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} role="img" style="max-width:100%;height:auto">',
        f'<text x="{left}" y="16" font-weight="600">{escape(title)}</text>',
    ]
    for t in ticks:
        label = _pct(t) if percent else _fmt(t)
        out.append(
            f'<line x1="{left}" x2="{left + pw}" y1="{py(t):.1f}" y2="{py(t):.1f}" stroke="#e5e7eb"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{py(t) + 4:.1f}" text-anchor="end" fill="#6b7280">{label}</text>'
        )
    every = max(1, len(xs) // 7)
    for i, x in enumerate(xs):
        if i % every == 0:
            out.append(
                f'<text x="{px(i):.1f}" y="{top + ph + 16}" text-anchor="middle" fill="#6b7280">{escape(x[5:])}</text>'
            )
    for k, (name, pts) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        idx = {x: i for i, x in enumerate(xs)}
        coords = [(px(idx[x]), py(y)) for x, y in sorted(pts) if math.isfinite(y)]
        if coords:
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in coords)
            out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
            out.extend(
                f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{color}"/>' for a, b in coords
            )
        ly = top + 10 + 16 * k
        out.append(
            f'<rect x="{left + pw + 12}" y="{ly - 8}" width="10" height="10" fill="{color}"/>'
        )
        out.append(
            f'<text x="{left + pw + 26}" y="{ly + 1}" font-size="11">{escape(name[:28])}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    rows: list[tuple[str, float]],
    title: str,
    width: int = 560,
    percent: bool = False,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, one per (label, value)."""
    if not rows:
        return f'<svg width="{width}" height="40" {FONT}><text x="8" y="24">{escape(title)}: no data</text></svg>'
    bar_h, gap, left, top = 18, 6, 150, 26
    height = top + len(rows) * (bar_h + gap) + 10
    vmax = max((v for _, v in rows if math.isfinite(v)), default=1.0) or 1.0
    pw = width - left - 90
    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} role="img" style="max-width:100%;height:auto">',
        f'<text x="8" y="16" font-weight="600">{escape(title)}</text>',
    ]
    for i, (label, v) in enumerate(rows):
        y = top + i * (bar_h + gap)
        w = pw * max(v, 0.0) / vmax if math.isfinite(v) else 0.0
        text = _pct(v) if percent else _fmt(v)
        out.append(
            f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{escape(label[:22])}</text>'
        )
        out.append(
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{color}" rx="2"/>'
        )
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 13}" fill="#374151">{text}</text>')
    out.append("</svg>")
    return "".join(out)


def interval_chart(
    rows: list[tuple[str, float, float, float]],
    title: str,
    width: int = 560,
    percent: bool = False,
    reference: float | None = 0.0,
    reference_label: str = "",
) -> str:
    """Point estimates with 95% intervals (a forest plot), optional vertical reference line."""
    rows = [r for r in rows if math.isfinite(r[1])]
    if not rows:
        return f'<svg width="{width}" height="40" {FONT}><text x="8" y="24">{escape(title)}: no data</text></svg>'
    row_h, left, top = 26, 190, 30
    height = top + len(rows) * row_h + 30
    vals = [v for _, e, lo, hi in rows for v in (e, lo, hi) if math.isfinite(v)]
    if reference is not None:
        vals.append(reference)
    lo_v, hi_v = min(vals), max(vals)
    pad = (hi_v - lo_v) * 0.08 or abs(hi_v) * 0.1 or 1.0
    lo_v, hi_v = lo_v - pad, hi_v + pad
    pw = width - left - 30

    def px(v: float) -> float:
        return left + pw * (v - lo_v) / (hi_v - lo_v)

    fmt = _pct if percent else _fmt
    out = [
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" {FONT} role="img" style="max-width:100%;height:auto">',
        f'<text x="8" y="16" font-weight="600">{escape(title)}</text>',
    ]
    if reference is not None:
        x = px(reference)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{height - 24}" stroke="#9ca3af" stroke-dasharray="4 3"/>'
        )
        if reference_label:
            out.append(
                f'<text x="{x + 4:.1f}" y="{height - 26}" fill="#6b7280">{escape(reference_label)}</text>'
            )
    for t in (lo_v + pad, (lo_v + hi_v) / 2, hi_v - pad):
        out.append(
            f'<text x="{px(t):.1f}" y="{height - 8}" text-anchor="middle" fill="#6b7280">{fmt(t)}</text>'
        )
    for i, (label, est, lo, hi) in enumerate(rows):
        y = top + i * row_h + 8
        color = PALETTE[i % len(PALETTE)]
        out.append(
            f'<text x="{left - 10}" y="{y + 4}" text-anchor="end">{escape(label[:30])}</text>'
        )
        if math.isfinite(lo) and math.isfinite(hi):
            out.append(
                f'<line x1="{px(lo):.1f}" x2="{px(hi):.1f}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2"/>'
            )
            for e in (lo, hi):
                out.append(
                    f'<line x1="{px(e):.1f}" x2="{px(e):.1f}" y1="{y - 5}" y2="{y + 5}" stroke="{color}" stroke-width="2"/>'
                )
        out.append(
            f'<circle cx="{px(est):.1f}" cy="{y}" r="4.5" fill="{color}"><title>{fmt(est)} [{fmt(lo)}, {fmt(hi)}]</title></circle>'
        )
    out.append("</svg>")
    return "".join(out)
