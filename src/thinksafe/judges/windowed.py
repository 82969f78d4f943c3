"""Judging text longer than a judge's context: overlapping windows, then one verdict.

A judge with `max_input_tokens` splits a text that does not fit (with the judge's own
prompt and its reply budget) into overlapping windows, judges each window as if it were
the whole text, and aggregates:
- any window read unsafe -> unsafe (the first such window's label, categories merged);
- otherwise any window unscored -> unscored (naming the window and its reason);
- otherwise safe: the label shared by all windows, or else the last window's label
  (thinking states its conclusion last); the score is the maximum over windows.
`quoted_verdict` (the judged text carried verdict-like lines) holds when it holds for any window.
Windows overlap so a harmful passage cut at a boundary is whole in one of them.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from thinksafe.judges.base import JudgeInput
from thinksafe.schema import Judgement


EPSILON = 1e-9  # float sums of 1/3


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...

    def split(self, text: str, size: int, overlap: int) -> list[str]: ...


class TokenizerCounter:
    """Exact counts with the judge model's own tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer

    def count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def split(self, text: str, size: int, overlap: int) -> list[str]:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return [self.tokenizer.decode(ids[start : start + size]) for start in _starts(len(ids), size, overlap)]


class EstimateCounter:
    """For served judges whose tokenizer is not at hand: a deliberately high estimate.

    ASCII characters count as 1/`chars_per_token` of a token, any other character as a
    whole token (CJK text is about one token per character), so windows err small.
    """

    def __init__(self, chars_per_token: float = 3.0):
        self.chars_per_token = chars_per_token

    def _cost(self, char: str) -> float:
        return 1.0 / self.chars_per_token if ord(char) < 128 else 1.0

    def count(self, text: str) -> int:
        return math.ceil(sum(self._cost(c) for c in text) - EPSILON)

    def split(self, text: str, size: int, overlap: int) -> list[str]:
        # cumulative cost at each character boundary
        bounds = [0.0]
        for char in text:
            bounds.append(bounds[-1] + self._cost(char))
        windows: list[str] = []
        start = 0
        while True:
            end = start
            while end < len(text) and bounds[end + 1] - bounds[start] <= size + EPSILON:
                end += 1
            end = max(end, start + 1)
            windows.append(text[start:end])
            if end >= len(text):
                return windows
            back = end
            while back > start + 1 and bounds[end] - bounds[back - 1] <= overlap + EPSILON:
                back -= 1
            start = back if back > start else end


def _starts(length: int, size: int, overlap: int) -> list[int]:
    step = size - overlap
    starts = [0]
    while starts[-1] + size < length:
        starts.append(starts[-1] + step)
    return starts


class WindowPlan:
    """How a judge fits text into its context: limit, overlap, counter, fixed overhead."""

    def __init__(
        self,
        max_input_tokens: int,
        overlap: int,
        counter: TokenCounter,
        overhead: Callable[[JudgeInput], int],
    ):
        self.max_input_tokens = max_input_tokens
        self.overlap = overlap
        self.counter = counter
        self.overhead = overhead

    def windows(self, item: JudgeInput) -> list[str]:
        budget = self.max_input_tokens - self.overhead(item)
        if self.counter.count(item.text) <= budget:
            return [item.text]
        if budget <= self.overlap:
            raise ValueError(
                f"the judge's context ({self.max_input_tokens} tokens) leaves {budget} tokens for the text, "
                f"not more than the window overlap ({self.overlap})"
            )
        return self.counter.split(item.text, budget, self.overlap)


JudgeFn = Callable[[list[JudgeInput]], Awaitable[list[Judgement]]]


async def judge_in_windows(items: list[JudgeInput], judge_fn: JudgeFn, plan: WindowPlan | None, name: str) -> list[Judgement]:
    """Judge each item whole when it fits, else in windows aggregated into one judgement."""
    if plan is None:
        return await judge_fn(items)
    expanded: list[JudgeInput] = []
    owners: list[int] = []
    failed: dict[int, Judgement] = {}
    for index, item in enumerate(items):
        try:
            windows = plan.windows(item)
        except ValueError as error:
            failed[index] = Judgement(judge=name, channel=item.channel, unscored_reason=str(error))
            continue
        for window in windows:
            expanded.append(item.model_copy(update={"text": window}))
            owners.append(index)
    judged = await judge_fn(expanded) if expanded else []
    grouped: dict[int, list[Judgement]] = {}
    for owner, judgement in zip(owners, judged):
        grouped.setdefault(owner, []).append(judgement)
    out: list[Judgement] = []
    for index in range(len(items)):
        if index in failed:
            out.append(failed[index])
            continue
        parts = grouped[index]
        out.append(parts[0] if len(parts) == 1 else aggregate(parts, name))
    return out


def aggregate(parts: list[Judgement], name: str) -> Judgement:
    """One judgement from the judgements of a text's windows (rules in the module doc)."""
    channel = parts[0].channel
    scores = [p.score for p in parts if p.scored and p.score is not None]
    summary = {
        "windows": len(parts),
        "window_labels": [p.label for p in parts],
        "window_unsafe": [p.unsafe for p in parts],
        "window_scores": [p.score for p in parts],
    }
    quoted = any(p.quoted_verdict for p in parts)
    unsafe = [i for i, p in enumerate(parts) if p.scored and p.unsafe]
    if unsafe:
        base = parts[unsafe[0]]
        details = dict(base.details)
        merged = _merge_lists([parts[i].details.get("categories") for i in unsafe])
        if merged is not None:
            details["categories"] = merged
        details.update(summary, unsafe_windows=unsafe)
        return base.model_copy(
            update={"judge": name, "score": max(scores) if scores else None, "details": details, "quoted_verdict": quoted}
        )
    unscored = [i for i, p in enumerate(parts) if not p.scored]
    if unscored:
        first = parts[unscored[0]]
        transient = any(parts[i].transient for i in unscored)
        return Judgement(
            judge=name,
            channel=channel,
            unscored_reason=f"window {unscored[0] + 1}/{len(parts)} unscored: {first.unscored_reason}",
            raw=first.raw,
            quoted_verdict=quoted,
            details={**summary, "unscored_windows": unscored},
            transient=transient,
        )
    labels = {p.label for p in parts}
    base = parts[0] if len(labels) == 1 else parts[-1]
    readings = {p.unsafe for p in parts}
    return base.model_copy(
        update={
            "judge": name,
            "score": max(scores) if scores else None,
            "unsafe": False if readings == {False} else None,
            "quoted_verdict": quoted,
            "details": {**base.details, **summary},
        }
    )


def _merge_lists(values: list[Any]) -> list[Any] | None:
    lists = [v for v in values if isinstance(v, list)]
    if not lists:
        return None
    merged: list[Any] = []
    for value in lists:
        merged += [x for x in value if x not in merged]
    return merged


def pop_window_options(options: dict[str, str], judge: str, default_max: int | None = None) -> tuple[int | None, int]:
    """(max_input_tokens, window_overlap) from a judge's `#key=value` options; any option left is an error."""
    max_input_tokens = int(options.pop("max_input_tokens", 0)) or default_max
    overlap = int(options.pop("window_overlap", 256))
    if options:
        raise ValueError(f"unknown options for judge {judge!r}: {sorted(options)}")
    return max_input_tokens, overlap


def text_counter(model: Any) -> TokenizerCounter | EstimateCounter:
    """The judge model's own tokenizer when it has one (in-process), else an estimate."""
    tokenizer = getattr(model, "tokenizer", None)
    return TokenizerCounter(tokenizer) if tokenizer is not None else EstimateCounter()


def split_judge_options(spec: str | None) -> tuple[str, dict[str, str]]:
    """'hf:path#max_input_tokens=2048,window_overlap=128' -> ('hf:path', {...})."""
    if not spec:
        return "", {}
    model, _, tail = spec.partition("#")
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in tail.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise ValueError(f"judge option {part!r} in {spec!r} must look like key=value")
        options[key.strip()] = value.strip()
    return model, options
