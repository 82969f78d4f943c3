"""Cross-cutting analyses added to every run summary (`summary.extra[<name>]`).

A module here defines `def analyse(results, judges) -> dict | None` and is picked up
by the pipeline without touching it.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from thinksafe.schema import SampleResult


def run_analyses(results: list[SampleResult], judges: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        analyse = getattr(module, "analyse", None)
        if analyse is not None:
            value = analyse(results, judges)
            if value is not None:
                out[module_info.name] = value
    return out
