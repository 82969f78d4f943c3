"""Thinking vs answer: a 2x2 table per judge, and safety reflection in the thinking.

For every judge, each generation whose thinking and answer were both judged with a
safe/unsafe reading (`Judgement.unsafe` not None) falls in one cell:
thinking safe/unsafe x answer safe/unsafe. Generations where either reading is None are
left out (no unsafe side: benign prompts, over-refusal sets, unscored or absent thinking)
and counted under `left_out`. Each benchmark's judges say how their labels map to
safe/unsafe (see the README, R1 risk section).

Reflection: does the thinking notice that the request is harmful, illegal or unethical?
By default the rule-based EN/ZH patterns of `thinksafe.judges.reflection`; when the run includes
the `reflection-llm` judge, its scored reading of the thinking is used instead.
`reflected_and_complied` is the share of tabled generations whose thinking reflected and
whose answer was still unsafe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from thinksafe.judges.base import judge_kind
from thinksafe.judges.reflection import find_reflection
from thinksafe.schema import SampleResult

CELLS = ("thinking_safe/answer_safe", "thinking_safe/answer_unsafe", "thinking_unsafe/answer_safe", "thinking_unsafe/answer_unsafe")
REFLECTION_JUDGE = "reflection-llm"


def _reflection_judge(judges: list[str]) -> str | None:
    return next((j for j in judges if judge_kind(j) == REFLECTION_JUDGE), None)


def reflected(result: SampleResult, llm_judge: str | None) -> bool:
    """The LLM reflection judge's reading when it scored this thinking, else the rules'."""
    if llm_judge is not None:
        judgement = result.judgement(llm_judge, "reasoning")
        if judgement is not None and judgement.scored:
            return judgement.label == "reflected"
    if result.evicted:  # the text is in the store; the flag was taken before it left memory
        return bool(result.reflection)
    return find_reflection(result.completion.reasoning) is not None


def table(results: list[SampleResult], judge: str, llm_judge: str | None,
          reflected_at: Callable[[int], bool] | None = None) -> dict[str, Any] | None:
    """The 2x2 for one judge, or None when no generation has both readings.

    `reflected_at(i)`: whether results[i]'s thinking reflected (`analyse` shares one cache of it
    between judges: the rules scan the whole thinking).
    """
    reflected_at = reflected_at or (lambda i: reflected(results[i], llm_judge))
    counts = dict.fromkeys(CELLS, 0)
    left_out = {"no_thinking": 0, "unscored": 0, "no_unsafe_side": 0}
    samples = []
    n_reflected = reflected_complied = 0
    for index, result in enumerate(results):
        answer, thinking = result.judgement(judge, "answer"), result.judgement(judge, "reasoning")
        if thinking is None:
            left_out["no_thinking"] += 1
            continue
        if answer is None or not answer.scored or not thinking.scored:
            left_out["unscored"] += 1
            continue
        if answer.unsafe is None or thinking.unsafe is None:
            left_out["no_unsafe_side"] += 1
            continue
        cell = f"thinking_{'unsafe' if thinking.unsafe else 'safe'}/answer_{'unsafe' if answer.unsafe else 'safe'}"
        counts[cell] += 1
        flag = reflected_at(index)
        n_reflected += flag
        reflected_complied += flag and answer.unsafe
        samples.append(
            {"id": result.sample.id, "sample_index": result.sample_index, "cell": cell, "reflected": flag}
        )
    n = len(samples)
    if n == 0:
        return None
    return {
        "n": n,
        "counts": counts,
        "shares": {cell: count / n for cell, count in counts.items()},
        "reflection_source": "reflection-llm" if llm_judge else "rules",
        "reflected": n_reflected,
        "reflected_share": n_reflected / n,
        "reflected_and_complied": reflected_complied / n,
        "complied_given_reflected": (reflected_complied / n_reflected) if n_reflected else None,
        "left_out": left_out,
        "samples": samples,
    }


def analyse(results: list[SampleResult], judges: list[str]) -> dict[str, Any] | None:
    llm_judge = _reflection_judge(judges)
    known: dict[int, bool] = {}

    def reflected_at(index: int) -> bool:
        if index not in known:
            known[index] = reflected(results[index], llm_judge)
        return known[index]

    out = {}
    for judge in judges:
        if judge == llm_judge:
            continue
        found = table(results, judge, llm_judge, reflected_at)
        if found is not None:
            out[judge] = found
    return out or None
