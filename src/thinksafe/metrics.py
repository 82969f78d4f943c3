"""Rates over scored judgements, grouped, with cluster bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from thinksafe.schema import Channel, Judgement, Metric, SampleResult

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
    values: list[float] = []
    clusters: list[str] = []
    unscored = 0
    for result in results:
        if not include(result):
            continue
        judgement = result.judgement(judge, channel)
        if judgement is None:  # channel absent (the model did not think)
            continue
        if not judgement.scored:
            unscored += 1
            continue
        found = hit(judgement) if hit is not None else hit_on(result, judgement)
        if found is None:
            continue
        values.append(float(found))
        clusters.append(result.sample.source_id or result.sample.id)  # an attack's variants are one cluster
    value, low, high = bootstrap_mean(values, clusters)
    return Metric(
        name=name,
        channel=channel,
        judge=judge,
        value=value,
        ci_low=low,
        ci_high=high,
        n=len(values),
        unscored=unscored,
        group=group,
        higher_is_better=higher_is_better,
        range=value_range,
        description=description,
    )


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
