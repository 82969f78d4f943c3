"""How one value with its interval reads in a terminal cell (shared by every table)."""

from __future__ import annotations


def interval(value: float | None, low: float | None, high: float | None) -> str:
    """The value with its 95% interval compact, `0.491 ±0.063`, or `[lo, hi]` when lopsided."""
    if value is None:
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    if abs((high - value) - (value - low)) > 0.01:
        return f"{value:.3f} [{low:.3f}, {high:.3f}]"
    return f"{value:.3f} ±{(high - low) / 2:.3f}"
