"""A run's summary: every metric per judge and channel (and per technique), counts, provenance."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from importlib import metadata

from thinksafe.analysis import run_analyses
from thinksafe.attacks.base import Attack
from thinksafe.attacks.summary import technique_extra, technique_metrics
from thinksafe.benchmarks.base import Benchmark
from thinksafe.data import DataError, DataResolver, sha256_of
from thinksafe.schema import CHANNELS, GenerationParams, Metric, RunSummary, SampleResult


def summarise_run(bench: Benchmark, attacks: list[Attack], model_spec: str, params: GenerationParams, notes: list[str],
                  results: list[SampleResult], judge_names: list[str], n_samples: int,
                  data_files: list[dict] | None = None) -> RunSummary:
    """The summary of one run; a metric group with nothing in it is left out (group "all" is kept)."""
    unscored: dict[str, dict[str, int]] = {}
    metrics = []
    for judge in judge_names:
        unscored[judge] = {
            ch: sum(1 for r in results if (j := r.judgement(judge, ch)) is not None and not j.scored) for ch in CHANNELS
        }
        for channel in CHANNELS:
            # a group with nothing in it (no item scored or unscored) is not a measurement; group "all" is kept
            found = bench.metrics(results, judge, channel) + technique_metrics(
                bench, attacks, results, judge, channel)
            metrics += [m for m in found if m.group == "all" or m.n or m.unscored]
    try:
        version = metadata.version("thinksafe")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = None
    errors = Counter(r.completion.error for r in results if r.completion.error)
    extra = run_analyses(results, judge_names)
    if [a.label for a in attacks] != ["none"]:
        extra["attacks"] = technique_extra(attacks, results)
    return RunSummary(
        benchmark=bench.name,
        model=model_spec,
        judges=judge_names,
        params=params,
        n=len(results),
        n_samples=n_samples,
        unscored=unscored,
        truncated=sum(r.completion.reasoning_truncated for r in results),
        errors=sum(errors.values()),
        error_counts=dict(errors.most_common()),
        quoted_verdicts=quoted_verdict_counts(results, judge_names),
        reasoning_present=sum(1 for r in results if r.completion.reasoning),  # a lean result keeps a mark
        metrics=metrics,
        notes=bench.notes() + approximation_notes(bench, metrics) + notes,
        extra=extra,
        headline=[bench.headline] if isinstance(bench.headline, str) else list(bench.headline or ()),
        attacks=[a.label for a in attacks],
        thinksafe_version=version,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        data_files=list(data_files or []),
    )


def data_file_records(bench: Benchmark, resolver: DataResolver) -> list[dict]:
    """The benchmark's files as used: url, local path and sha256 (a file not here is listed with no path)."""
    local = DataResolver(resolver.data_dir, offline=True)  # finds files already here; never downloads
    records = []
    for data_file in type(bench).files:
        try:
            found = local.path(data_file)
        except DataError:  # not here (an optional file the run did not need)
            found = None
        records.append({
            "benchmark": data_file.benchmark, "name": data_file.name, "url": data_file.url,
            "path": str(found) if found else None, "pinned_sha256": data_file.sha256,
            "sha256": sha256_of(found) if found else None,
        })
    return records


def quoted_verdict_counts(results: list[SampleResult], judge_names: list[str]) -> dict[str, dict[str, int]]:
    """judge -> channel -> items left unscored although (or because) the judged text held verdict-like lines."""
    counts: dict[str, dict[str, int]] = {}
    for judge in judge_names:
        for channel in CHANNELS:
            found = sum(1 for r in results if (j := r.judgement(judge, channel)) is not None and j.quoted_verdict and not j.scored)
            if found:
                counts.setdefault(judge, {})[channel] = found
    return counts


def approximation_notes(bench: Benchmark, metrics: list[Metric]) -> list[str]:
    """The benchmark's note on its approximate metrics, naming the judges that gave them (none when all are exact)."""
    judges = sorted({m.judge for m in metrics if m.approximate})
    if not judges:
        return []
    return [bench.approximation_note(judges) or f"APPROXIMATE metrics from {', '.join(judges)}"]

