"""`enhance compare`: the same benchmarks on the model before and after, metric by metric.

For every metric a benchmark reports (each judge, channel and group): the value before and
after with their own intervals, the difference after - before over the items scored in
both runs with a paired bootstrap 95% interval (items resampled, both runs together), and
a verdict in the metric's own direction: "better" or "worse" when the interval excludes 0,
"no significant change" otherwise. The per-item values come from the benchmark's own
metric function applied to each item alone; a metric that is not a mean over items (the
item values do not average to the reported value) gets no interval and verdict "n/a".

With `--split OUT/split.json` from `enhance data`, every evaluation item whose normalised
prompt was a training prompt is left out (so a split pool such as CHiSafetyBench is
evaluated on its held-out half), and the count is reported.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from rich.console import Console

from thinksafe.benchmarks.base import Benchmark, benchmark_names
from thinksafe.data import DataResolver
from thinksafe.enhance.data import DEFAULT_EVAL_BENCHMARKS
from thinksafe.enhance.split import SplitRecord
from thinksafe.text import prompt_fingerprint as fingerprint
from thinksafe.metrics import paired_bootstrap_diff
from thinksafe.models.base import ModelOptions, ModelPool, parse_spec
from thinksafe.schema import GenerationParams, Metric, Sample, SampleResult

Verdict = Literal["better", "worse", "no significant change", "n/a"]


class HeldOut(Benchmark):
    """A benchmark without the items whose normalised prompt is a training prompt."""

    def __init__(self, inner: Benchmark, train_fingerprints: set[str]):
        super().__init__(**inner.options)
        self.inner = inner
        self.name = inner.name
        self.default_judges = inner.default_judges
        self.headline = inner.headline
        self.train_fingerprints = train_fingerprints
        self.excluded = 0
        self._kept: list[Sample] | None = None

    def load(self, data: DataResolver) -> list[Sample]:
        """The held-out items, read and checked once (both models are evaluated on them)."""
        if self._kept is None:
            samples = self.inner.load(data)
            self._kept = [s for s in samples if fingerprint(s.prompt) not in self.train_fingerprints]
            self.excluded = len(samples) - len(self._kept)
        return self._kept

    def metrics(self, results, judge, channel):
        return self.inner.metrics(results, judge, channel)

    def stratum(self, sample: Sample) -> str:
        return self.inner.stratum(sample)

    def notes(self) -> list[str]:
        extra = [f"{self.excluded} items left out: their prompts were training prompts"] if self.excluded else []
        return self.inner.notes() + extra


class MetricComparison(BaseModel):
    benchmark: str
    judge: str
    metric: str
    channel: str
    group: str
    higher_is_better: bool
    before: float | None
    before_ci: tuple[float | None, float | None]
    before_n: int
    after: float | None
    after_ci: tuple[float | None, float | None]
    after_n: int
    diff: float | None = Field(None, description="after - before over items scored in both")
    diff_ci: tuple[float | None, float | None] = (None, None)
    paired_n: int = 0
    verdict: Verdict = "n/a"
    note: str | None = None


class CompareReport(BaseModel):
    before: str
    after: str
    benchmarks: list[str]
    excluded_by_split: dict[str, int] = Field(default_factory=dict)
    rows: list[MetricComparison] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)



class CompareConfig(BaseModel):
    before: str
    after: str
    out: Path
    benchmarks: list[str] | None = Field(None, description="None: the default set, those registered")
    split: Path | None = None
    safety_judges: list[str] | None = Field(None, description="replace the default judges of non-math benchmarks")
    judge_model: str | None = None
    limit: int | None = None
    params: GenerationParams = GenerationParams()
    model_options: ModelOptions = ModelOptions()
    data_dir: Path | None = None
    store: Path | None = None
    seed: int = 0
    progress: bool = True


def verdict_of(diff: float | None, low: float | None, high: float | None, higher_is_better: bool) -> Verdict:
    if diff is None or low is None or high is None:
        return "n/a"
    if low > 0 or high < 0:
        return "better" if (diff > 0) == higher_is_better else "worse"
    return "no significant change"


def item_values(bench: Benchmark, results: list[SampleResult], judge: str, channel: str) -> dict[tuple[str, str], dict[str, tuple[float, int]]]:
    """(metric, group) -> sample id -> (the metric on that item alone, its n)."""
    by_item: dict[str, list[SampleResult]] = defaultdict(list)
    for result in results:
        by_item[result.sample.id].append(result)
    out: dict[tuple[str, str], dict[str, tuple[float, int]]] = defaultdict(dict)
    for sample_id, item_results in by_item.items():
        for metric in bench.metrics(item_results, judge, channel):
            if metric.n > 0 and metric.value is not None:
                out[(metric.name, metric.group)][sample_id] = (metric.value, metric.n)
    return out


def decomposes(metric: Metric, values: dict[str, tuple[float, int]]) -> bool:
    """Do the per-item values average (weighted by n) to the reported value?"""
    if metric.value is None:
        return False
    total = sum(n for _, n in values.values())
    if total != metric.n or total == 0:
        return False
    return abs(sum(v * n for v, n in values.values()) / total - metric.value) < 1e-9


def compare_benchmark(
    bench: Benchmark, before: tuple[list[Metric], list[SampleResult]], after: tuple[list[Metric], list[SampleResult]]
) -> list[MetricComparison]:
    (metrics_b, results_b), (metrics_a, results_a) = before, after
    rows = []
    after_by_key = {(m.judge, m.name, m.channel, m.group): m for m in metrics_a}
    cache: dict[tuple[str, str], tuple[dict, dict]] = {}
    for mb in metrics_b:
        ma = after_by_key.get((mb.judge, mb.name, mb.channel, mb.group))
        if ma is None:
            continue
        key = (mb.judge, mb.channel)
        if key not in cache:
            cache[key] = (item_values(bench, results_b, mb.judge, mb.channel), item_values(bench, results_a, mb.judge, mb.channel))
        values_b = cache[key][0].get((mb.name, mb.group), {})
        values_a = cache[key][1].get((mb.name, mb.group), {})
        row = MetricComparison(
            benchmark=bench.name, judge=mb.judge, metric=mb.name, channel=mb.channel, group=mb.group,
            higher_is_better=mb.higher_is_better, before=mb.value, before_ci=(mb.ci_low, mb.ci_high), before_n=mb.n,
            after=ma.value, after_ci=(ma.ci_low, ma.ci_high), after_n=ma.n,
        )
        if decomposes(mb, values_b) and decomposes(ma, values_a):
            diff, low, high, paired = paired_bootstrap_diff({k: v for k, (v, _) in values_b.items()}, {k: v for k, (v, _) in values_a.items()})
            row.diff, row.diff_ci, row.paired_n = diff, (low, high), paired
            row.verdict = verdict_of(diff, low, high, mb.higher_is_better)
            if any(n > 1 for _, n in values_b.values()):
                row.note = "several generations per item: the difference weights items equally"
        elif mb.value is not None and ma.value is not None:
            row.note = "not a mean over items: no paired interval"
        rows.append(row)
    return rows


def weights_fingerprint(spec: str) -> str:
    """Spec plus size and mtime of local weight files, so a retrained adapter never reuses old generations."""
    scheme, name, _ = parse_spec(spec)
    parts = [spec]
    if scheme == "hf":
        for piece in name.split("+"):
            folder = Path(piece)
            if folder.is_dir():
                for path in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
                    stat = path.stat()
                    parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def resolve_benchmarks(names: list[str] | None, notes: list[str]) -> list[str]:
    known = benchmark_names()
    if names:
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown benchmark(s) {unknown}; known: {', '.join(known)}")
        return names
    chosen = [n for n in DEFAULT_EVAL_BENCHMARKS if n in known]
    missing = [n for n in DEFAULT_EVAL_BENCHMARKS if n not in known]
    if missing:
        notes.append(f"default benchmarks not registered here, skipped: {', '.join(missing)}")
    return chosen


def _needs_model(judge: str) -> bool:
    from thinksafe.judges.base import judge_names

    cls = judge_names().get(judge)
    return bool(cls and cls.needs_model)


def compared_benchmarks(
    config: CompareConfig, names: list[str], fps: set[str], notes: list[str]
) -> list[tuple[str, HeldOut, list[str] | None]]:
    """(name, held-out benchmark, judges or None for its defaults) for each benchmark that can run.

    Each benchmark hears of the judge model, as in `thinksafe eval` (some pick their judge by it).
    """
    from thinksafe.pipeline import build_benchmark

    chosen = []
    for name in names:
        bench = HeldOut(build_benchmark(name, None, config.judge_model), fps)
        judges = None
        if config.safety_judges and "math-answer" not in bench.default_judges:
            judges = config.safety_judges
        missing = [] if (judges or config.judge_model) else [j for j in bench.default_judges if _needs_model(j)]
        if missing:
            message = f"{name}: its default judges {missing} need --judge-model (or pass --judge)"
            if config.benchmarks:
                raise ValueError(message)
            notes.append(f"skipped {message}")
            continue
        chosen.append((name, bench, judges))
    return chosen


async def run_compare(config: CompareConfig, console: Console | None = None) -> CompareReport:
    from thinksafe.pipeline import evaluate_async

    notes: list[str] = []
    names = resolve_benchmarks(config.benchmarks, notes)
    fps: set[str] = set()
    if config.split is not None:
        fps = set(SplitRecord.load(config.split).train_fingerprints)
    else:
        notes.append("no --split given: evaluation items are not checked against the training prompts")
    report = CompareReport(before=config.before, after=config.after, benchmarks=[], notes=notes)
    chosen = compared_benchmarks(config, names, fps, notes)
    report.benchmarks = [name for name, _, _ in chosen]
    runs: dict[str, dict[str, tuple[list[Metric], list[SampleResult]]]] = {name: {} for name, _, _ in chosen}
    for side, spec in (("before", config.before), ("after", config.after)):
        store = config.store or (config.out / "stores" / f"{weights_fingerprint(spec)}.sqlite")
        store.parent.mkdir(parents=True, exist_ok=True)
        models = ModelPool()  # each model is loaded once for all benchmarks, and one model at a time
        try:
            for name, bench, judges in chosen:
                summary, results = await evaluate_async(
                    spec, bench, judges=judges, judge_model=config.judge_model, limit=config.limit, data_dir=config.data_dir,
                    out=config.out / side / name, params=config.params, model_options=config.model_options, store=store,
                    seed=config.seed, progress=config.progress, console=console, models=models,
                )
                runs[name][side] = (summary.metrics, results)
        finally:
            await models.aclose()
    for name, bench, _ in chosen:
        report.excluded_by_split[name] = bench.excluded
        report.rows += compare_benchmark(bench, runs[name]["before"], runs[name]["after"])
    config.out.mkdir(parents=True, exist_ok=True)
    (config.out / "compare.json").write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return report

