"""Cross-cutting analyses added to every run summary (`summary.extra[<name>]`).

A module here defines `def analyse(results, judges) -> dict | None` and is picked up
by the pipeline without touching it.
"""

from __future__ import annotations

from typing import Any

from thinksafe.plugins import plugin_modules
from thinksafe.schema import SampleResult


def run_analyses(results: list[SampleResult], judges: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for module in plugin_modules(__name__):
        analyse = getattr(module, "analyse", None)
        if analyse is not None:
            value = analyse(results, judges)
            if value is not None:
                out[module.__name__.rsplit(".", 1)[1]] = value
    return out
