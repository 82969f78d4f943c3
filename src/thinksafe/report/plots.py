"""Inline SVG bar plots with interval whiskers, drawn in Python (no plotting dependency)."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from thinksafe.schema import Metric

COLORS = {"answer": "#3b6fb6", "reasoning": "#d9822b"}
NAMES = {"answer": "answer", "reasoning": "thinking"}
WIDTH, LABEL_W, VALUE_W, BAR_H, GAP = 760, 230, 70, 11, 10


def _short(text: str, limit: int = 32) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _x(value: float, lo: float, hi: float, plot_w: float) -> float:
    span = (hi - lo) or 1.0
    return LABEL_W + max(0.0, min(1.0, (value - lo) / span)) * plot_w


def bar_plot(title: str, metrics: list[Metric]) -> Markup:
    """Horizontal bars per group (answer and thinking side by side) with 95% interval whiskers."""
    groups = list(dict.fromkeys(m.group for m in metrics))
    by_key = {(m.group, m.channel): m for m in metrics}
    channels = [c for c in ("answer", "reasoning") if any(m.channel == c for m in metrics)]
    lo = min((m.range[0] for m in metrics), default=0.0)
    hi = max((m.range[1] for m in metrics), default=1.0)
    plot_w = WIDTH - LABEL_W - VALUE_W
    row_h = BAR_H * len(channels) + GAP
    top = 34
    height = top + row_h * len(groups) + 22
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" role="img" width="{WIDTH}" height="{height}" '
             f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>",
             f'<text x="4" y="14" font-weight="bold" font-size="12">{escape(_short(title, 90))}</text>']
    for i, channel in enumerate(channels):
        x = LABEL_W + i * 90
        parts.append(f'<rect x="{x}" y="20" width="10" height="10" fill="{COLORS[channel]}"/>'
                     f'<text x="{x + 14}" y="29">{NAMES[channel]}</text>')
    for tick in range(5):
        value = lo + (hi - lo) * tick / 4
        x = _x(value, lo, hi, plot_w)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 18}" stroke="#ddd"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" fill="#666">{value:g}</text>')
    for row, group in enumerate(groups):
        y0 = top + row * row_h + GAP / 2
        parts.append(f'<text x="{LABEL_W - 6}" y="{y0 + BAR_H * len(channels) / 2 + 4:.1f}" text-anchor="end">'
                     f"<title>{escape(group)}</title>{escape(_short(group))}</text>")
        for i, channel in enumerate(channels):
            metric = by_key.get((group, channel))
            y = y0 + i * BAR_H
            if metric is None or metric.value is None:
                parts.append(f'<text x="{LABEL_W + 4}" y="{y + BAR_H - 2:.1f}" fill="#999">n/a</text>')
                continue
            x = _x(metric.value, lo, hi, plot_w)
            label = f"{group} {NAMES[channel]}: {metric.value:.3f} (n={metric.n})"
            parts.append(f'<rect x="{LABEL_W}" y="{y:.1f}" width="{x - LABEL_W:.1f}" height="{BAR_H - 2}" '
                         f'fill="{COLORS[channel]}"><title>{escape(label)}</title></rect>')
            if metric.ci_low is not None and metric.ci_high is not None:
                a, b = _x(metric.ci_low, lo, hi, plot_w), _x(metric.ci_high, lo, hi, plot_w)
                mid = y + (BAR_H - 2) / 2
                parts.append(f'<path class="ci" d="M{a:.1f} {mid:.1f}H{b:.1f}M{a:.1f} {mid - 3:.1f}V{mid + 3:.1f}'
                             f'M{b:.1f} {mid - 3:.1f}V{mid + 3:.1f}" stroke="#222" fill="none"/>')
            parts.append(f'<text x="{WIDTH - VALUE_W + 6}" y="{y + BAR_H - 2:.1f}">{metric.value:.3f}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def category_plots(metrics: list[Metric]) -> list[tuple[str, Markup]]:
    """One plot per (judge, metric name) over its groups."""
    keys = list(dict.fromkeys((m.judge, m.name) for m in metrics))
    out = []
    for judge, name in keys:
        chosen = [m for m in metrics if (m.judge, m.name) == (judge, name)]
        title = f"{name} ({judge}) by category"
        out.append((title, bar_plot(title, chosen)))
    return out


POINT_COLORS = ("#3b6fb6", "#d9822b", "#2a9d5c", "#b63b6f", "#6f3bb6", "#8c6d1f", "#1f8c8c", "#555555")
SC_W, SC_H, SC_LEFT, SC_RIGHT, SC_TOP, SC_BOTTOM = 560, 400, 64, 24, 34, 52


def _span(metrics: list[Metric]) -> tuple[float, float]:
    """The values and intervals of `metrics`, padded, inside their declared range."""
    values = [v for m in metrics for v in (m.value, m.ci_low, m.ci_high) if v is not None]
    floor = min(m.range[0] for m in metrics)
    ceiling = max(m.range[1] for m in metrics)
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.12, (ceiling - floor) * 0.03)
    lo, hi = max(floor, lo - pad), min(ceiling, hi + pad)
    return (lo, hi) if hi > lo else (floor, ceiling if ceiling > floor else floor + 1.0)


def scatter_plot(title: str, points: list[tuple[str, Metric, Metric]], x_name: str, y_name: str) -> Markup:
    """One labelled point per model at (x metric, y metric) with 95% interval whiskers on both axes.
    `points` are (label, x, y) with values present; names are escaped."""
    xs, ys = [x for _, x, _ in points], [y for _, _, y in points]
    x_lo, x_hi = _span(xs)
    y_lo, y_hi = _span(ys)
    plot_w, plot_h = SC_W - SC_LEFT - SC_RIGHT, SC_H - SC_TOP - SC_BOTTOM

    def px(v: float) -> float:
        return SC_LEFT + max(0.0, min(1.0, (v - x_lo) / (x_hi - x_lo))) * plot_w

    def py(v: float) -> float:
        return SC_TOP + (1.0 - max(0.0, min(1.0, (v - y_lo) / (y_hi - y_lo)))) * plot_h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot scatter" role="img" width="{SC_W}" height="{SC_H}" '
             f'viewBox="0 0 {SC_W} {SC_H}" font-family="sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>",
             f'<text x="4" y="14" font-weight="bold" font-size="12">{escape(_short(title, 84))}</text>',
             f'<rect x="{SC_LEFT}" y="{SC_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#bbb"/>']
    for tick in range(5):
        xv, yv = x_lo + (x_hi - x_lo) * tick / 4, y_lo + (y_hi - y_lo) * tick / 4
        x, y = px(xv), py(yv)
        parts.append(f'<line x1="{x:.1f}" y1="{SC_TOP}" x2="{x:.1f}" y2="{SC_TOP + plot_h}" stroke="#eee"/>'
                     f'<text x="{x:.1f}" y="{SC_TOP + plot_h + 14}" text-anchor="middle" fill="#666">{xv:.3g}</text>'
                     f'<line x1="{SC_LEFT}" y1="{y:.1f}" x2="{SC_LEFT + plot_w}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{SC_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{yv:.3g}</text>')
    parts.append(f'<text x="{SC_LEFT + plot_w / 2:.1f}" y="{SC_H - 12}" text-anchor="middle">'
                 f"{escape(_short(x_name, 80))}</text>"
                 f'<text transform="translate(14 {SC_TOP + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle">'
                 f"{escape(_short(y_name, 60))}</text>")
    for index, (label, xm, ym) in enumerate(points):
        color = POINT_COLORS[index % len(POINT_COLORS)]
        x, y = px(xm.value), py(ym.value)
        whiskers = []
        if xm.ci_low is not None and xm.ci_high is not None:
            a, b = px(xm.ci_low), px(xm.ci_high)
            whiskers.append(f"M{a:.1f} {y:.1f}H{b:.1f}M{a:.1f} {y - 4:.1f}V{y + 4:.1f}M{b:.1f} {y - 4:.1f}V{y + 4:.1f}")
        if ym.ci_low is not None and ym.ci_high is not None:
            a, b = py(ym.ci_low), py(ym.ci_high)
            whiskers.append(f"M{x:.1f} {a:.1f}V{b:.1f}M{x - 4:.1f} {a:.1f}H{x + 4:.1f}M{x - 4:.1f} {b:.1f}H{x + 4:.1f}")
        if whiskers:
            parts.append(f'<path class="ci" d="{"".join(whiskers)}" stroke="{color}" fill="none" opacity="0.7"/>')
        detail = (f"{label}: {x_name} {xm.value:.3f} [{_bound(xm.ci_low)}, {_bound(xm.ci_high)}] (n={xm.n}); "
                  f"{y_name} {ym.value:.3f} [{_bound(ym.ci_low)}, {_bound(ym.ci_high)}] (n={ym.n})")
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}">'
                     f"<title>{escape(detail)}</title></circle>")
        left = x > SC_LEFT + plot_w * 0.7  # near the right edge: the label goes to the left of the point
        parts.append(f'<text class="point-label" x="{x + (-8 if left else 8):.1f}" y="{y - 7:.1f}" '
                     f'text-anchor="{"end" if left else "start"}" fill="{color}">{escape(_short(label, 36))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _bound(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
