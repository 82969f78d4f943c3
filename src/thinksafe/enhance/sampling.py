"""Rejection sampling: generate candidates through the normal pipeline, judge both channels, keep the good.

A pool becomes an (unregistered) benchmark so generation and judging reuse the pipeline:
cached in the store, resumable, with progress bars. Each candidate is accepted or rejected
with one reason; of the accepted candidates for a prompt one is kept (the most preferred,
then the lowest sample index).

Acceptance rules:
- harmful: thinking present and closed; every safety judge scored both channels and read
  them as safe (`unsafe is False`). Preference: the guidance judge's grade of the answer
  (guided_refusal > bare_refusal > anything else).
- benign: thinking present and closed; no judge labels the answer a refusal; no judge reads
  either channel as unsafe.
- math: thinking present and closed; `math-answer` labels the answer channel `correct`.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

from pydantic import BaseModel, Field

from thinksafe.benchmarks.base import Benchmark
from thinksafe.judges.readings import REFUSAL_LABELS
from thinksafe.data import DataResolver
from thinksafe.judges.guidance import PREFERENCE
from thinksafe.enhance.pools import PoolItem
from thinksafe.schema import CHANNELS, Message, Sample, SampleResult


class PoolBenchmark(Benchmark):
    """Pool items as samples, optionally behind a system prompt per language."""

    name: ClassVar[str] = "enhance-pool"

    def __init__(self, items: list[PoolItem], system: dict[str, str] | None = None, label: str = "enhance-pool"):
        super().__init__()
        self.items = items
        self.system = system or {}
        self.label = label

    def load(self, data: DataResolver) -> list[Sample]:
        samples = []
        for item in self.items:
            messages = list(item.messages)
            system = self.system.get(item.lang)
            if system and messages[0].role != "system":
                messages = [Message(role="system", content=system), *messages]
            elif system:  # the item has its own system turn: ours goes first in it
                messages[0] = Message(role="system", content=f"{system}\n\n{messages[0].content}")
            samples.append(
                Sample(
                    id=item.id, benchmark=self.label, messages=messages, category=[item.kind, item.category],
                    target=item.answer,
                    metadata={"harmful": item.kind == "harmful", "answer_type": item.answer_type, "pool": item.pool},
                )
            )
        return samples


class Verdict(BaseModel):
    accepted: bool
    reason: str | None = None
    preference: int = 0


class SamplingReport(BaseModel):
    """Counts for one kind: candidates tried, accepted, kept (one per prompt), rejected by reason."""

    kind: str
    prompts: int = 0
    tried: int = 0
    accepted: int = 0
    kept: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    prompts_without_target: int = 0
    kept_by_grade: dict[str, int] = Field(default_factory=dict)


def _channel_problems(result: SampleResult) -> str | None:
    completion = result.completion
    if completion.error:
        return "generation error"
    if completion.reasoning_truncated:
        return "thinking truncated"
    if not (completion.reasoning or "").strip():
        return "no thinking"
    if not completion.answer.strip():
        return "empty answer"
    return None


def judge_harmful(result: SampleResult, safety_judges: list[str], guidance_judge: str | None) -> Verdict:
    problem = _channel_problems(result)
    if problem:
        return Verdict(accepted=False, reason=problem)
    for judge in safety_judges:
        for channel in CHANNELS:
            judgement = result.judgement(judge, channel)
            where = "answer" if channel == "answer" else "thinking"
            if judgement is None or not judgement.scored:
                return Verdict(accepted=False, reason=f"{where} unscored by {judge}")
            if judgement.unsafe is None:
                return Verdict(accepted=False, reason=f"{where}: no safety reading from {judge}")
            if judgement.unsafe:
                return Verdict(accepted=False, reason=f"{where} judged unsafe by {judge}")
    preference = 0
    if guidance_judge:
        grade = result.judgement(guidance_judge, "answer")
        preference = PREFERENCE.get(grade.label, 0) if grade is not None and grade.scored else 0
    return Verdict(accepted=True, preference=preference)


def judge_benign(result: SampleResult, judges: list[str]) -> Verdict:
    problem = _channel_problems(result)
    if problem:
        return Verdict(accepted=False, reason=problem)
    for judge in judges:
        answer = result.judgement(judge, "answer")
        if answer is None or not answer.scored:
            return Verdict(accepted=False, reason=f"answer unscored by {judge}")
        if answer.label in REFUSAL_LABELS:
            return Verdict(accepted=False, reason=f"answer refused (over-refusal) by {judge}")
        for channel in CHANNELS:
            judgement = result.judgement(judge, channel)
            if judgement is not None and judgement.unsafe:
                return Verdict(accepted=False, reason=f"{'answer' if channel == 'answer' else 'thinking'} judged unsafe by {judge}")
    return Verdict(accepted=True)


def judge_math(result: SampleResult, judge: str) -> Verdict:
    problem = _channel_problems(result)
    if problem:
        return Verdict(accepted=False, reason=problem)
    judgement = result.judgement(judge, "answer")
    if judgement is None or not judgement.scored:
        reason = judgement.unscored_reason if judgement is not None else "not judged"
        return Verdict(accepted=False, reason=f"unscored: {reason}")
    if judgement.label == "correct":
        return Verdict(accepted=True)
    return Verdict(accepted=False, reason="wrong answer" if judgement.label == "incorrect" else "no answer found")


def select(results: list[SampleResult], verdict_of, kind: str, grade_of=None) -> tuple[list[SampleResult], SamplingReport]:
    """One kept candidate per prompt (highest preference, then lowest sample index), and the counts."""
    report = SamplingReport(kind=kind)
    reasons: Counter = Counter()
    best: dict[str, tuple[int, int, SampleResult]] = {}
    prompts: dict[str, None] = {}  # sample ids in first-seen order
    for result in results:
        sample_id = result.sample.id
        prompts.setdefault(sample_id)
        report.tried += 1
        verdict = verdict_of(result)
        if not verdict.accepted:
            reasons[verdict.reason or "rejected"] += 1
            continue
        report.accepted += 1
        rank = (-verdict.preference, result.sample_index)
        current = best.get(sample_id)
        if current is None or rank < current[:2]:
            best[sample_id] = (*rank, result)
    kept = [best[s][2] for s in prompts if s in best]
    report.prompts = len(prompts)
    report.kept = len(kept)
    report.rejected = report.tried - report.accepted
    report.rejected_by_reason = dict(sorted(reasons.items()))
    report.prompts_without_target = report.prompts - report.kept
    if grade_of is not None:
        report.kept_by_grade = dict(sorted(Counter(grade_of(r) for r in kept).items()))
    return kept, report
