"""MCQ runs: the distribution of chosen options per channel, and thinking vs answer choices.

Written with or without an answer key, so a run without a key still shows what the model
chose. For each `mcq-choice` judge and channel: counts per letter, `unextracted` (no option
found, or a letter that is not an option) and `absent` (no such channel: no thinking, or a
failed generation). `thinking_vs_answer`: generations where both channels chose, how many
chose the same option, and the share that differ.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from thinksafe.metrics import judge_contract
from thinksafe.schema import CHANNELS, SampleResult


def _distribution(results: list[SampleResult], judge: str, channel: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for result in results:
        judgement = result.judgement(judge, channel)  # type: ignore[arg-type]
        if judgement is None:
            counts["absent"] += 1
        elif judgement.scored and judgement.label:
            counts[judgement.label] += 1
        else:
            counts["unextracted"] += 1
    letters = sorted(k for k in counts if len(k) == 1)
    return {k: counts[k] for k in letters} | {k: counts[k] for k in ("unextracted", "absent")}


def _agreement(results: list[SampleResult], judge: str) -> dict[str, Any]:
    both = same = 0
    for result in results:
        thinking, answer = result.judgement(judge, "reasoning"), result.judgement(judge, "answer")
        if thinking is not None and answer is not None and thinking.scored and answer.scored:
            both += 1
            same += thinking.label == answer.label
    return {"both_chose": both, "same": same, "differ": both - same, "differ_share": (both - same) / both if both else None}


def analyse(results: list[SampleResult], judges: list[str]) -> dict[str, Any] | None:
    mcq = [judge for judge in judges if "choice" in judge_contract(judge).readings]
    if not mcq:
        return None
    return {
        judge: {
            "distribution": {channel: _distribution(results, judge, channel) for channel in CHANNELS},
            "thinking_vs_answer": _agreement(results, judge),
        }
        for judge in mcq
    }
