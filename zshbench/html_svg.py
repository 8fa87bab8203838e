"""Line charts as inline SVG text, for the self-contained leaderboard page.

No plotting library: a page that must open offline carries its figures as markup, and a few
polylines with axes are all a leaderboard needs. Every label is escaped (run names come from
records). Code lengths are drawn on a log2 axis, where the paper's 24/48/64/128 spread evenly.
"""

from __future__ import annotations

import html
import math

WIDTH, HEIGHT = 460, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 150, 28, 42  # the legend lives in the right margin
#: The right margin widens to fit the longest legend name (pixels per character), up to this.
LEGEND_CHAR, MAX_LEGEND = 6.2, 560
#: One colour and one marker per series, so lines stay apart in grey print too.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
MARKERS = ("circle", "square", "triangle", "diamond", "cross")


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'
    if kind == "square":
        return f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" fill="{colour}"/>'
    if kind == "triangle":
        points = f"{x:.1f},{y - 4:.1f} {x - 4:.1f},{y + 3:.1f} {x + 4:.1f},{y + 3:.1f}"
        return f'<polygon points="{points}" fill="{colour}"/>'
    if kind == "diamond":
        points = f"{x:.1f},{y - 4:.1f} {x - 4:.1f},{y:.1f} {x:.1f},{y + 4:.1f} {x + 4:.1f},{y:.1f}"
        return f'<polygon points="{points}" fill="{colour}"/>'
    return (
        f'<path d="M{x - 3.5:.1f},{y - 3.5:.1f}L{x + 3.5:.1f},{y + 3.5:.1f}'
        f'M{x - 3.5:.1f},{y + 3.5:.1f}L{x + 3.5:.1f},{y - 3.5:.1f}" stroke="{colour}" '
        'stroke-width="2"/>'
    )


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        return [low]
    step = (high - low) / (count - 1)
    return [low + i * step for i in range(count)]


def _chart(
    series: dict[str, list[tuple[float, float]]],
    title: str,
    x_label: str,
    y_label: str,
    x_ticks: list[tuple[float, str]],
    x_map,
    y_range: tuple[float, float],
    extra: str = "",
) -> str:
    """Axes, one polyline and marker kind per series, a legend beside the plot area."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    y_low, y_high = y_range
    longest = max((len(str(name)) for name in series), default=0)
    width = LEFT + plot_w + min(MAX_LEGEND, max(RIGHT, 30 + LEGEND_CHAR * longest))

    def sx(x: float) -> float:
        return LEFT + plot_w * x_map(x)

    def sy(y: float) -> float:
        span = (y_high - y_low) or 1.0
        return TOP + plot_h * (1 - (y - y_low) / span)

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {HEIGHT}" '
        f'width="{width}" height="{HEIGHT}" role="img" aria-label="{_esc(title)}">',
        f'<text x="{LEFT}" y="16" class="t">{_esc(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#999"/>',
    ]
    for value in _ticks(y_low, y_high):
        y = sy(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 4}" y="{y + 3:.1f}" text-anchor="end">{value:.3g}</text>'
        )
    for value, label in x_ticks:
        x = sx(value)
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 14}" text-anchor="middle">{_esc(label)}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
        f"{_esc(x_label)}</text>"
        f'<text transform="translate(12,{TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{_esc(y_label)}</text>'
    )
    parts.append(extra)
    for i, (name, points) in enumerate(series.items()):
        colour, kind = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
        finite = [(x, y) for x, y in points if math.isfinite(y)]
        coords = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in finite)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{colour}"/>')
        step = max(1, len(finite) // 12)  # a marker every few points on a long curve
        parts.extend(_marker(kind, sx(x), sy(y), colour) for x, y in finite[::step])
        legend_y = TOP + 12 + 16 * i
        parts.append(
            _marker(kind, LEFT + plot_w + 14, legend_y - 4, colour)
            + f'<text x="{LEFT + plot_w + 24}" y="{legend_y}">{_esc(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def map_vs_bits_svg(
    series: dict[str, list[tuple[int, float]]], chance: float | None, title: str
) -> str:
    """mAP (%) against code length on a log2 axis; the chance level as a dashed line."""
    bits = sorted({b for points in series.values() for b, _ in points})
    values = [v for points in series.values() for _, v in points if math.isfinite(v)]
    if chance is not None:
        values.append(chance)
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(1.0, 0.08 * (high - low))
    y_range = (max(0.0, low - pad), min(100.0, high + pad))
    lo, hi = math.log2(bits[0]), math.log2(bits[-1])

    def x_map(b: float) -> float:
        return 0.5 if hi == lo else 0.05 + 0.9 * (math.log2(b) - lo) / (hi - lo)

    extra = ""
    if chance is not None:
        plot_h = HEIGHT - TOP - BOTTOM
        span = (y_range[1] - y_range[0]) or 1.0
        y = TOP + plot_h * (1 - (chance - y_range[0]) / span)
        extra = (
            f'<line class="chance" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#555" stroke-dasharray="4 3"/>'
            f'<text x="{WIDTH - RIGHT + 6}" y="{HEIGHT - BOTTOM - 4}">- - chance {chance:.2f}'
            "</text>"
        )
    ticks = [(b, str(b)) for b in bits]
    return _chart(
        {k: [(float(b), v) for b, v in p] for k, p in series.items()},
        title,
        "code length (bits, log2 axis)",
        "mAP (%)",
        ticks,
        x_map,
        y_range,
        extra,
    )


def curve_svg(
    curves: dict[str, tuple[list[float], list[float]]],
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
) -> str:
    """Curves with linear axes: x over ``x_range`` (recall: 0 to 1) or else the data's range,
    y from 0 to 1."""
    xs = [x for x_values, _ in curves.values() for x in x_values]
    low, high = x_range or (min(xs), max(xs))

    def x_map(x: float) -> float:
        return 0.5 if high == low else (x - low) / (high - low)

    ticks = [(v, f"{v:.3g}") for v in _ticks(low, high)]
    series = {name: list(zip(x, y, strict=True)) for name, (x, y) in curves.items()}
    return _chart(series, title, x_label, y_label, ticks, x_map, (0.0, 1.0))
