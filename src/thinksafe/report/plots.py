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
