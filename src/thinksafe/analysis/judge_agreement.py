"""Agreement between judges (and between a judge and human labels) on binary readings.

`analyse` adds `summary.extra["judge_agreement"]` when a run has two or more judges: for
each pair of judges and each channel, Cohen's kappa on the safe/unsafe reading
(`Judgement.unsafe`) over the items both judges read as safe or unsafe. Items either
judge left unscored, or read neither way (unsafe is None), are left out and counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def kappa_from_counts(both_unsafe: int, both_safe: int, only_first_unsafe: int, only_second_unsafe: int) -> float | None:
    """`cohen_kappa` of two binary raters from their 2x2 table (same edge cases)."""
    n = both_unsafe + both_safe + only_first_unsafe + only_second_unsafe
    if n == 0:
        return None
    observed = (both_unsafe + both_safe) / n
    first, second = (both_unsafe + only_first_unsafe) / n, (both_unsafe + only_second_unsafe) / n
    expected = first * second + (1 - first) * (1 - second)
    if expected == 1.0:
        return 1.0 if observed == 1.0 else 0.0
    return (observed - expected) / (1 - expected)


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


def _reading(record: dict[str, Any], judge: str, channel: str) -> bool | str | None:
    """A results.jsonl judgement as True/False (unsafe/safe), "left" (unscored or unread) or None (absent)."""
    judgement = ((record.get("judgements") or {}).get(judge) or {}).get(channel)
    if not isinstance(judgement, dict):
        return None
    if judgement.get("label") is None or judgement.get("unscored_reason") is not None or judgement.get("unsafe") is None:
        return "left"
    return bool(judgement["unsafe"])


def analyse_records(records: Iterable[dict[str, Any]], judges: list[str]) -> dict[str, Any] | None:
    """`analyse` over results.jsonl records, in one pass and without keeping them (for runs whose
    summary predates the analysis); None with fewer than two judges."""
    if len(judges) < 2:
        return None
    keys = [(first, second, channel) for first, second in combinations(judges, 2) for channel in CHANNELS]
    counts = {key: {"both_unsafe": 0, "both_safe": 0, "only_first_unsafe": 0, "only_second_unsafe": 0, "left_out": 0}
              for key in keys}
    for record in records:
        for first, second, channel in keys:
            x, y = _reading(record, first, channel), _reading(record, second, channel)
            if x is None and y is None:
                continue
            table = counts[(first, second, channel)]
            if not isinstance(x, bool) or not isinstance(y, bool):
                table["left_out"] += 1
            elif x and y:
                table["both_unsafe"] += 1
            elif not x and not y:
                table["both_safe"] += 1
            else:
                table["only_first_unsafe" if x else "only_second_unsafe"] += 1
    pairs = []
    for (first, second, channel), table in counts.items():
        n = table["both_unsafe"] + table["both_safe"] + table["only_first_unsafe"] + table["only_second_unsafe"]
        kappa = kappa_from_counts(table["both_unsafe"], table["both_safe"], table["only_first_unsafe"],
                                  table["only_second_unsafe"])
        pairs.append(PairAgreement(first=first, second=second, channel=channel, n=n, left_out=table["left_out"],
                                   agreement=_ratio(table["both_unsafe"] + table["both_safe"], n), kappa=kappa,
                                   both_unsafe=table["both_unsafe"], both_safe=table["both_safe"],
                                   only_first_unsafe=table["only_first_unsafe"],
                                   only_second_unsafe=table["only_second_unsafe"]).model_dump())
    return {"reading": "Judgement.unsafe (safe/unsafe); unscored or unread items left out", "pairs": pairs}
