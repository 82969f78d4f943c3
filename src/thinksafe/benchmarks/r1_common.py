"""Shared pieces of the R1 risk benchmarks: which judge speaks which labels, macro rates, fetched-file records."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from thinksafe.benchmarks.base import REFUSAL_LABELS
from thinksafe.data import DataError, fetch_bytes, sha256_of, write_atomic
from thinksafe.judges.base import judge_kind
from thinksafe.metrics import N_BOOTSTRAP
from thinksafe.schema import Channel, Judgement, Metric, SampleResult


def judge_labels(judge: str) -> frozenset[str]:
    """The labels the named judge (`name` or `name=MODEL`) can give; empty when unknown."""
    from thinksafe.judges.base import judge_names

    cls = judge_names().get(judge_kind(judge))
    return frozenset(cls.labels) if cls is not None else frozenset()


def speaks(judge: str, *labels: str) -> bool:
    """True when the judge can give every one of `labels`."""
    return set(labels) <= judge_labels(judge)


def refused(judgement: Judgement) -> bool:
    """A refusal under any judge that reads refusals (label, or a classifier's refusal field)."""
    return judgement.label in REFUSAL_LABELS or judgement.details.get("response_refusal") is True


def reads_refusal(judge: str) -> bool:
    return bool(judge_labels(judge) & REFUSAL_LABELS)


def has_unsafe_reading(results: list[SampleResult], judge: str, include: Callable[[SampleResult], bool]) -> bool:
    """Whether the judge gave a safe/unsafe reading on any included, scored item."""
    for result in results:
        if not include(result):
            continue
        for channel in ("answer", "reasoning"):
            judgement = result.judgement(judge, channel)
            if judgement is not None and judgement.scored and judgement.unsafe is not None:
                return True
    return False


def macro_rate(
    results: list[SampleResult],
    *,
    judge: str,
    channel: Channel,
    name: str,
    hit: Callable[[Judgement], float | bool],
    group_of: Callable[[SampleResult], str],
    higher_is_better: bool,
    description: str = "",
    n_boot: int = N_BOOTSTRAP,
    seed: int = 0,
) -> Metric:
    """Mean over groups of each group's mean `hit` (e.g. 1 - mean malicious share per attack type),
    with a bootstrap that resamples prompts within each group."""
    by_group: dict[str, dict[str, list[float]]] = {}
    unscored = 0
    n = 0
    for result in results:
        judgement = result.judgement(judge, channel)
        if judgement is None:
            continue
        if not judgement.scored:
            unscored += 1
            continue
        by_group.setdefault(group_of(result), {}).setdefault(result.sample.id, []).append(float(hit(judgement)))
        n += 1
    if not by_group:
        return Metric(name=name, channel=channel, judge=judge, value=None, n=0, unscored=unscored,
                      higher_is_better=higher_is_better, description=description)
    groups = [[float(np.mean(v)) for v in clusters.values()] for clusters in by_group.values()]
    value = float(np.mean([np.mean(g) for g in groups]))
    rng = np.random.default_rng(seed)
    draws = np.zeros(n_boot)
    for g in groups:
        arr = np.asarray(g)
        draws += arr[rng.integers(0, len(arr), size=(n_boot, len(arr)))].mean(axis=1)
    draws /= len(groups)
    low, high = np.quantile(draws, [0.025, 0.975])
    return Metric(name=name, channel=channel, judge=judge, value=value, ci_low=float(low), ci_high=float(high), n=n,
                  unscored=unscored, higher_is_better=higher_is_better, description=description)


LOCK_FILE = "SHA256SUMS.json"


def _lock(folder: Path) -> dict[str, str]:
    path = folder / LOCK_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def fetch_recorded(url: str, target: Path, token_env: tuple[str, ...] = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")) -> str:
    """Download `url` to `target` (atomically) and record its sha256 in SHA256SUMS.json beside it."""
    token = next((os.environ[name] for name in token_env if os.environ.get(name)), None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        content = fetch_bytes(url, headers, timeout=120)
    except DataError as error:
        raise DataError(f"cannot fetch {url}: {error}") from error
    write_atomic(target, content)
    digest = sha256_of(target)
    lock = _lock(target.parent)
    lock[target.name] = digest
    (target.parent / LOCK_FILE).write_text(json.dumps(lock, indent=2, sort_keys=True))
    return digest


def check_recorded(path: Path, source: str) -> str:
    """sha256 of `path`, checked against the one recorded when it was fetched (if it was)."""
    digest = sha256_of(path)
    recorded = _lock(path.parent).get(path.name)
    if recorded is not None and recorded != digest:
        raise DataError(f"{path} has sha256 {digest}, but {recorded} was recorded when it was fetched from {source}; "
                        "delete it to fetch it again")
    return digest
