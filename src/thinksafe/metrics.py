"""Rates over scored judgements, grouped, with cluster bootstrap intervals; metrics declared as data.

A benchmark declares its metrics (`Rate`, `MacroRate`, `ChannelDisagreement`), each naming the
judge readings it is computed from (`Read`); `compute_metrics` computes every declared metric
for a judge that provides one of its readings (thinksafe.judges.readings), per channel, overall
and per declared grouping, with intervals clustered on the original prompt (`source_id`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from thinksafe.judges.base import judge_kind, judge_names
from thinksafe.judges.readings import read
from thinksafe.schema import CHANNELS, Channel, Judgement, Metric, Sample, SampleResult

N_BOOTSTRAP = 2000
CHUNK_ENTRIES = 1 << 20  # replicate rows are drawn in blocks of at most this many indices (8 MB of int64)


def _row_chunks(n_boot: int, width: int) -> list[int]:
    """Row counts of consecutive blocks covering `n_boot` rows of `width`: at most CHUNK_ENTRIES
    entries a block (a single row when one row alone is wider)."""
    step = max(1, min(n_boot, CHUNK_ENTRIES // max(width, 1)))
    return [min(step, n_boot - start) for start in range(0, n_boot, step)]


def _replicates(
    rng: np.random.Generator, width: int, n_boot: int, stat: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """`stat` of each of `n_boot` rows of `width` uniform indices, drawn block by block.

    Consecutive (rows, width) draws from one Generator give the same stream as a single
    (n_boot, width) draw, and each row's statistic depends only on that row, so the result is
    bit-identical to drawing the whole matrix at once, in O(CHUNK_ENTRIES) memory.
    """
    out = np.empty(n_boot)
    start = 0
    for rows in _row_chunks(n_boot, width):
        out[start:start + rows] = stat(rng.integers(0, width, size=(rows, width)))
        start += rows
    return out


def bootstrap_mean(
    values: list[float], clusters: list[str], n_boot: int = N_BOOTSTRAP, seed: int = 0, level: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """Mean with a percentile interval; resamples clusters (original prompts), not single generations or variants."""
    if not values:
        return None, None, None
    ids: dict[str, int] = {}
    index = np.array([ids.setdefault(c, len(ids)) for c in clusters])
    sums = np.bincount(index, weights=np.asarray(values, dtype=float))
    counts = np.bincount(index).astype(float)
    mean = float(sums.sum() / counts.sum())
    if len(ids) == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    stats = _replicates(rng, len(ids), n_boot, lambda draws: sums[draws].sum(axis=1) / counts[draws].sum(axis=1))
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return mean, float(low), float(high)


def paired_bootstrap_diff(
    before: dict[str, float], after: dict[str, float], n_boot: int = N_BOOTSTRAP, seed: int = 0
) -> tuple[float | None, float | None, float | None, int]:
    """after - before over items scored in both, with a paired percentile interval."""
    common = sorted(set(before) & set(after))
    if not common:
        return None, None, None, 0
    diffs = np.array([after[k] - before[k] for k in common])
    rng = np.random.default_rng(seed)
    stats = _replicates(rng, len(diffs), n_boot, lambda draws: diffs[draws].mean(axis=1))
    low, high = np.quantile(stats, [0.025, 0.975])
    return float(diffs.mean()), float(low), float(high), len(common)


def rate(
    results: Iterable[SampleResult],
    *,
    judge: str,
    channel: Channel,
    name: str,
    hit: Callable[[Judgement], float | bool | None] | None = None,
    hit_on: Callable[[SampleResult, Judgement], float | bool | None] | None = None,
    higher_is_better: bool,
    include: Callable[[SampleResult], bool] = lambda r: True,
    group: str = "all",
    description: str = "",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> Metric:
    """Mean of `hit` over the scored judgements of the included results.

    Absent channels are skipped; unscored judgements are counted apart; a `hit` of None means
    the judgement carries nothing for this metric (e.g. no score) and is left out. `hit_on`
    replaces `hit` when the value needs the sample too (e.g. an answer key).
    """
    if (hit is None) == (hit_on is None):
        raise ValueError("give exactly one of hit and hit_on")
    rows: list[tuple[Sample, float | object]] = []
    for result in results:
        judgement = result.judgement(judge, channel) if include(result) else None
        if judgement is None:  # left out, or the channel is absent (the model did not think)
            continue
        if not judgement.scored:
            rows.append((result.sample, UNSCORED))
        elif (found := hit(judgement) if hit is not None else hit_on(result, judgement)) is not None:
            rows.append((result.sample, float(found)))
    return summarise(rows, name=name, channel=channel, judge=judge, group=group, higher_is_better=higher_is_better,
                     range=value_range, description=description)


UNSCORED = object()  # an observation counted as unscored


def summarise(rows: list[tuple[Sample, float | object]], **fields: Any) -> Metric:
    """The Metric of (sample, value or UNSCORED) rows: mean, interval clustered on the original prompt, counts."""
    scored = [(sample, value) for sample, value in rows if value is not UNSCORED]
    value, low, high = bootstrap_mean([v for _, v in scored], [s.source_id or s.id for s, _ in scored])  # an attack's variants are one cluster
    return Metric(value=value, ci_low=low, ci_high=high, n=len(scored), unscored=len(rows) - len(scored), **fields)


def grouped_rates(
    results: list[SampleResult], key: Callable[[SampleResult], str | None], **kwargs
) -> list[Metric]:
    """`rate` once per distinct group key (results with key None are left out)."""
    groups: dict[str, list[SampleResult]] = {}
    for result in results:
        group = key(result)
        if group is not None:
            groups.setdefault(group, []).append(result)
    return [rate(groups[group], group=group, **kwargs) for group in sorted(groups)]


# ---------------------------------------------------------------- metrics declared as data


def as_float(value: Any) -> float | None:
    """The reading as a number (None stays None: the judgement carries nothing for this metric)."""
    return None if value is None else float(value)


@dataclass(frozen=True)
class Read:
    """Which reading a metric is computed from, and the value of one judgement under it.

    `value` maps the reading to a number, a bool or None (None: the item carries nothing for this
    metric and is left out); `against_sample` does the same when the sample is needed (an answer
    key). `labels`: the judge must be able to give all of these (for readings of its own labels).
    `unscored`: the value of an unscored judgement (None: counted unscored, the default).
    """

    reading: str
    value: Callable[[Any], float | bool | None] = as_float
    labels: frozenset[str] = frozenset()
    against_sample: Callable[[Sample, Any], float | bool | None] | None = None
    unscored: Callable[[SampleResult, Judgement, Channel], float | None] | None = None
    description: str | None = None  # replaces the metric's description when this reading is the one used

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", frozenset(self.labels))


def by_category(level: int) -> Callable[[Sample], str | None]:
    """Group key: the sample's category at `level` (None when the path is shorter)."""
    return lambda sample: sample.category[level] if len(sample.category) > max(level, -level - 1) else None


def harmful(sample: Sample) -> bool:
    return sample.metadata.get("harmful") is True


def benign(sample: Sample) -> bool:
    return sample.metadata.get("harmful") is False


@dataclass(frozen=True)
class Rate:
    """Mean of the reading's value over the included items, overall and per grouping."""

    name: str
    reads: tuple[Read, ...]  # alternatives: the first the judge provides is used
    higher_is_better: bool
    description: str = ""
    where: Callable[[Sample], bool] | None = None  # which items count (None: all)
    by: tuple[Callable[[Sample], str | None], ...] = ()  # groupings beside "all" (a key of None: not in that grouping)
    overall: bool = True
    channels: tuple[Channel, ...] = CHANNELS
    value_range: tuple[float, float] | Literal["observed"] = (0.0, 1.0)
    approximate: bool = False


@dataclass(frozen=True)
class MacroRate:
    """Mean over groups of each group's mean value, resampling prompts within each group."""

    name: str
    reads: tuple[Read, ...]
    group_of: Callable[[Sample], str]
    higher_is_better: bool
    description: str = ""
    channels: tuple[Channel, ...] = CHANNELS


@dataclass(frozen=True)
class ChannelDisagreement:
    """Share of generations whose thinking and answer give different values of the reading (both scored)."""

    name: str
    reads: tuple[Read, ...]
    description: str = ""
    higher_is_better: bool = False


MetricSpec = Rate | MacroRate | ChannelDisagreement


@dataclass(frozen=True)
class JudgeContract:
    """What one judge provides: its readings and the labels it can give."""

    readings: frozenset[str]
    labels: frozenset[str]

    def choose(self, reads: tuple[Read, ...]) -> Read | None:
        return next((r for r in reads if r.reading in self.readings and r.labels <= self.labels), None)


def judge_contract(judge: str) -> JudgeContract:
    """The readings and labels of the judge a label names (`name` or `name=MODEL`); none when unknown."""
    cls = judge_names().get(judge_kind(judge))
    if cls is None:
        return JudgeContract(frozenset(), frozenset())
    return JudgeContract(cls.provided_readings(), frozenset(cls.labels))


def observe(result: SampleResult, judgement: Judgement, chosen: Read, channel: Channel) -> float | object | None:
    """One judgement's value under `chosen`: a float, UNSCORED, or None (carries nothing)."""
    if not judgement.scored:
        found = chosen.unscored(result, judgement, channel) if chosen.unscored is not None else None
        return UNSCORED if found is None else float(found)
    raw = read(judgement, chosen.reading)
    value = chosen.against_sample(result.sample, raw) if chosen.against_sample is not None else chosen.value(raw)
    return None if value is None else float(value)


def _metric(spec: Rate | MacroRate | ChannelDisagreement, chosen: Read, judge: str, channel: Channel, **fields) -> Metric:
    return Metric(name=spec.name, channel=channel, judge=judge, higher_is_better=spec.higher_is_better,
                  description=chosen.description or spec.description, **fields)


def _rate(spec: Rate, chosen: Read, results: list[SampleResult], judge: str, channel: Channel) -> list[Metric]:
    observed: list[tuple[Sample, float | object]] = []
    for result in results:
        if spec.where is not None and not spec.where(result.sample):
            continue
        judgement = result.judgement(judge, channel)
        if judgement is None:  # channel absent (the model did not think)
            continue
        value = observe(result, judgement, chosen, channel)
        if value is not None:
            observed.append((result.sample, value))
    numbers = [v for _, v in observed if v is not UNSCORED]
    value_range = spec.value_range if spec.value_range != "observed" else (
        (min(numbers), max(numbers)) if numbers else (0.0, 1.0))

    def summary(group: str, rows: list[tuple[Sample, float | object]]) -> Metric:
        return summarise(rows, name=spec.name, channel=channel, judge=judge, group=group, range=value_range,
                         higher_is_better=spec.higher_is_better, approximate=spec.approximate,
                         description=chosen.description or spec.description)

    out = [summary("all", observed)] if spec.overall else []
    for key in spec.by:
        groups: dict[str, list[tuple[Sample, float | object]]] = {}
        for sample, value in observed:
            group = key(sample)
            if group is not None:
                groups.setdefault(group, []).append((sample, value))
        out += [summary(group, groups[group]) for group in sorted(groups)]
    return out


def _macro(spec: MacroRate, chosen: Read, results: list[SampleResult], judge: str, channel: Channel,
           n_boot: int = N_BOOTSTRAP, seed: int = 0) -> Metric:
    by_group: dict[str, dict[str, list[float]]] = {}
    unscored = n = 0
    for result in results:
        judgement = result.judgement(judge, channel)
        if judgement is None:
            continue
        value = observe(result, judgement, chosen, channel)
        if value is UNSCORED:
            unscored += 1
        elif value is not None:
            by_group.setdefault(spec.group_of(result.sample), {}).setdefault(result.sample.id, []).append(value)
            n += 1
    if not by_group:
        return _metric(spec, chosen, judge, channel, value=None, n=0, unscored=unscored)
    groups = [np.array([np.mean(v) for v in clusters.values()]) for clusters in by_group.values()]
    value = float(np.mean([g.mean() for g in groups]))
    rng = np.random.default_rng(seed)
    draws = np.zeros(n_boot)
    for g in groups:
        draws += g[rng.integers(0, len(g), size=(n_boot, len(g)))].mean(axis=1)
    low, high = np.quantile(draws / len(groups), [0.025, 0.975])
    return _metric(spec, chosen, judge, channel, value=value, ci_low=float(low), ci_high=float(high), n=n,
                   unscored=unscored)


def _disagreement(spec: ChannelDisagreement, chosen: Read, results: list[SampleResult], judge: str) -> Metric:
    rows: list[tuple[Sample, float | object]] = []
    for result in results:
        thinking, answer = result.judgement(judge, "reasoning"), result.judgement(judge, "answer")
        if thinking is None or answer is None:
            continue
        if thinking.scored and answer.scored:
            rows.append((result.sample, float(read(thinking, chosen.reading) != read(answer, chosen.reading))))
        else:
            rows.append((result.sample, UNSCORED))
    return summarise(rows, name=spec.name, channel="reasoning", judge=judge, higher_is_better=spec.higher_is_better,
                     description=chosen.description or spec.description)


def compute_metrics(specs: Iterable[MetricSpec], results: list[SampleResult], judge: str, channel: Channel,
                    contract: JudgeContract | None = None) -> list[Metric]:
    """Every declared metric the judge provides a reading for, on `channel`, in declaration order."""
    contract = contract or judge_contract(judge)
    out: list[Metric] = []
    for spec in specs:
        chosen = contract.choose(spec.reads)
        if chosen is None:
            continue
        if isinstance(spec, ChannelDisagreement):
            if channel == "reasoning":
                out.append(_disagreement(spec, chosen, results, judge))
        elif channel in spec.channels:
            out += _rate(spec, chosen, results, judge, channel) if isinstance(spec, Rate) else [
                _macro(spec, chosen, results, judge, channel)]
    return out
