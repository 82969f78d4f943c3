"""Read run directories: a single benchmark run (RunSummary), a suite (SuiteSummary + OUT/<member>/), or a
folder of benchmark runs with no summary of its own (`enhance compare`'s OUT/before and OUT/after)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from thinksafe.schema import Metric, RunSummary, SuiteSummary


@dataclass
class Bench:
    """One benchmark's summary and results inside a run."""

    name: str
    summary: RunSummary
    path: Path
    headline: tuple[str, ...] | None = None

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """results.jsonl as dicts (missing file: none; unreadable lines skipped)."""
        return read_records(self.path / "results.jsonl")

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """results.jsonl one dict at a time, never the whole file in memory (the HTML report streams it)."""
        return iter_records(self.path / "results.jsonl")

    def headline_metrics(self) -> list[Metric]:
        """Group-'all' metrics named in the suite's rows, or all group-'all' metrics."""
        return [m for m in self.summary.metrics
                if m.group == "all" and (self.headline is None or m.name in self.headline)]

    def group_metrics(self, technique: bool) -> list[Metric]:
        """Per-category metrics (technique=False) or per-attack-technique ones (groups 'attack:<name>')."""
        return [m for m in self.summary.metrics
                if m.group != "all" and m.group.startswith("attack:") == technique]

    def approximate(self) -> bool:
        """Whether any metric is flagged approximate (older runs: a note says APPROXIMATE, a name ends in -approx)."""
        return any("approximate" in note.lower() for note in self.summary.notes) or any(
            m.approximate or m.name.endswith("-approx") for m in self.summary.metrics)


@dataclass
class Run:
    """A run directory, labelled, with its benchmarks."""

    label: str
    path: Path
    benches: list[Bench] = field(default_factory=list)
    suite: str | None = None

    def bench(self, name: str) -> Bench | None:
        return next((b for b in self.benches if b.name == name), None)


def read_records(path: Path) -> list[dict[str, Any]]:
    """One dict per JSON line; blank or broken lines are skipped."""
    return list(iter_records(path))


def iter_records(path: Path) -> Iterator[dict[str, Any]]:
    """`read_records`, lazily."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                yield record


def load_run(path: str | Path, label: str | None = None) -> Run:
    """Read RUN_DIR/summary.json (a run or a suite); raises ValueError when there is none."""
    path = Path(path)
    summary_path = path / "summary.json"
    if not summary_path.exists():
        members = _member_runs(path)
        if members:  # e.g. `enhance compare`'s OUT/before and OUT/after: one folder per benchmark
            models = list(dict.fromkeys(b.summary.model for b in members))
            return Run(label=label or (models[0] if len(models) == 1 else path.name or str(path)), path=path,
                       benches=members)
        hint = (" (an `enhance compare` folder: pass its before/ and after/ folders)"
                if (path / "compare.json").exists() else "")
        raise ValueError(f"{path}: no summary.json{hint}")
    data = json.loads(summary_path.read_text(encoding="utf-8"))
    if "suite" in data and "members" in data:
        suite = SuiteSummary.model_validate(data)
        run = Run(label=label or suite.model, path=path, suite=suite.suite)
        for member in suite.members:
            member_path = path / member / "summary.json"
            if not member_path.exists():
                continue
            summary = RunSummary.model_validate_json(member_path.read_text(encoding="utf-8"))
            headline = tuple(dict.fromkeys(r.metric for r in suite.rows if r.benchmark == summary.benchmark))
            run.benches.append(Bench(summary.benchmark, summary, path / member, headline or None))
        return run
    summary = RunSummary.model_validate(data)
    return Run(label=label or summary.model, path=path, benches=[Bench(summary.benchmark, summary, path)])


def _member_runs(path: Path) -> list[Bench]:
    """The benchmark runs in PATH's immediate subfolders (each with a RunSummary summary.json), by name."""
    if not path.is_dir():
        return []
    benches = []
    for child in sorted(path.iterdir()):
        summary_path = child / "summary.json"
        if not child.is_dir() or not summary_path.exists():
            continue
        data = json.loads(summary_path.read_text(encoding="utf-8"))
        if "suite" in data and "members" in data:
            continue  # a suite folder is a run of its own
        summary = RunSummary.model_validate(data)
        benches.append(Bench(summary.benchmark, summary, child))
    return benches


def load_runs(paths: list[Path], labels: list[str | None] | None = None) -> list[Run]:
    """Load each RUN_DIR; --label NAME gives names in order; repeated names get the folder appended."""
    labels = list(labels or [])
    if len(labels) > len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} run directories")
    runs = [load_run(p, labels[i] if i < len(labels) else None) for i, p in enumerate(paths)]
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.label] = seen.get(run.label, 0) + 1
    for run in runs:
        if seen[run.label] > 1:
            run.label = f"{run.label} ({run.path.name or run.path})"
    return runs


def benchmark_names(runs: list[Run]) -> list[str]:
    """Benchmarks over all runs, in first-seen order."""
    return list(dict.fromkeys(b.name for run in runs for b in run.benches))
