"""Reports over finished runs: one self-contained HTML file, and paper-style comparison tables."""

from __future__ import annotations

from thinksafe.report.runs import Bench, Run, load_run, load_runs

__all__ = ["Bench", "Run", "load_run", "load_runs"]
