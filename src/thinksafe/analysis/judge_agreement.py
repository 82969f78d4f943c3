"""Agreement between judges (and between a judge and human labels) on binary readings.

`analyse` adds `summary.extra["judge_agreement"]` when a run has two or more judges: for
each pair of judges and each channel, Cohen's kappa on the safe/unsafe reading
(`Judgement.unsafe`) over the items both judges read as safe or unsafe. Items either
judge left unscored, or read neither way (unsafe is None), are left out and counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

from pydantic import BaseModel

from thinksafe.schema import CHANNELS, SampleResult


class BinaryStats(BaseModel):
    """A 2x2 confusion matrix against a reference, with the usual rates."""

    n: int
    tp: int
    fp: int
    tn: int
    fn: int
    agreement: float | None
    kappa: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    fpr: float | None
    fnr: float | None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def cohen_kappa(first: Sequence[Any], second: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters over the same items, any number of categories.

    None for no items; 1.0 when both raters use one and the same category throughout
    (perfect agreement with no variation); 0.0 when chance agreement is 1 otherwise.
    """
    if len(first) != len(second):
        raise ValueError("kappa needs two ratings per item")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second)) / n
    categories = set(first) | set(second)
    expected = sum((list(first).count(c) / n) * (list(second).count(c) / n) for c in categories)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


def binary_stats(truth: Sequence[bool], predicted: Sequence[bool]) -> BinaryStats:
    """Confusion matrix and rates for the positive class (True)."""
    pairs = list(zip(truth, predicted))
    tp = sum(t and p for t, p in pairs)
    fp = sum((not t) and p for t, p in pairs)
    tn = sum((not t) and (not p) for t, p in pairs)
    fn = sum(t and (not p) for t, p in pairs)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = None if precision is None or recall is None or precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return BinaryStats(
        n=len(pairs),
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        agreement=_ratio(tp + tn, len(pairs)),
        kappa=cohen_kappa(list(truth), list(predicted)),
        precision=precision,
        recall=recall,
        f1=f1,
        fpr=_ratio(fp, fp + tn),
        fnr=_ratio(fn, fn + tp),
    )


class PairAgreement(BaseModel):
    first: str
    second: str
    channel: str
    n: int
    left_out: int
    agreement: float | None
    kappa: float | None
    both_unsafe: int
    both_safe: int
    only_first_unsafe: int
    only_second_unsafe: int


def pair_agreement(results: list[SampleResult], first: str, second: str, channel: str) -> PairAgreement:
    a: list[bool] = []
    b: list[bool] = []
    left_out = 0
    for result in results:
        x, y = result.judgement(first, channel), result.judgement(second, channel)
        if x is None and y is None:
            continue  # the channel is absent
        if x is None or y is None or not x.scored or not y.scored or x.unsafe is None or y.unsafe is None:
            left_out += 1
            continue
        a.append(x.unsafe)
        b.append(y.unsafe)
    stats = binary_stats(a, b)  # the first judge's readings in the place of the truth
    return PairAgreement(
        first=first, second=second, channel=channel, n=stats.n, left_out=left_out, agreement=stats.agreement,
        kappa=stats.kappa, both_unsafe=stats.tp, both_safe=stats.tn, only_first_unsafe=stats.fn, only_second_unsafe=stats.fp,
    )


def analyse(results: list[SampleResult], judges: list[str]) -> dict[str, Any] | None:
    """Pairwise kappa on the safe/unsafe readings; None with fewer than two judges."""
    if len(judges) < 2:
        return None
    pairs = [
        pair_agreement(results, first, second, channel).model_dump()
        for first, second in combinations(judges, 2)
        for channel in CHANNELS
    ]
    return {"reading": "Judgement.unsafe (safe/unsafe); unscored or unread items left out", "pairs": pairs}
