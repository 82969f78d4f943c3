"""Results held lean: while a run goes on, completion texts live in the store, not in memory.

A run over 100,000 prompts of 8,000-token thinking would otherwise hold gigabytes of text until
its summary is written. Once a completion from the store has been judged by the model-free
judges, `evict` keeps only what metrics read (finish reason, token counts, truncation, whether
thinking was present, and the rule-based reflection flag); `restored` brings the texts back,
a bounded slice at a time, for LLM judges and for writing results.jsonl. Identical model-free
judgements (a rule judge has only a few distinct readings) are shared by `JudgementInterner`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from thinksafe.judges.reflection import find_reflection
from thinksafe.schema import Completion, Judgement, SampleResult
from thinksafe.store import Store

REASONING_MARK = "\u2026"  # stands for a non-blank thinking whose text is in the store
RESTORE_CHUNK = 1024  # completions read back per slice


_ALL_COMPLETION_FIELDS = frozenset(Completion.model_fields)


def _assign(result: SampleResult, **values: object) -> None:
    """Set fields of a result without growing pydantic's fields-set bookkeeping (a set per object
    that costs 728 bytes once it holds five names: 70 MB over 100,000 results)."""
    result.__dict__.update(values)


def evict(result: SampleResult) -> None:
    """Drop the completion's texts (kept in the store under `generation_key`); errors are kept whole."""
    completion = result.completion
    if result.evicted or completion.error:
        return
    reasoning = completion.reasoning
    reflection = None
    if reasoning is not None and reasoning.strip():
        reflection = find_reflection(reasoning) is not None
        reasoning = REASONING_MARK
    # a frozen fields set: a lean completion is read, never assigned to (an assignment would raise)
    lean = Completion.model_construct(_ALL_COMPLETION_FIELDS, **{**completion.__dict__, "text": "", "answer": "",
                                                                 "reasoning": reasoning})
    _assign(result, completion=lean, evicted=True, reflection=reflection)


def restore(results: Sequence[SampleResult], store: Store) -> None:
    """Bring the texts of evicted results back from the store (in place)."""
    wanted = [r for r in results if r.evicted]
    found: dict[str, Completion] = {}
    for start in range(0, len(wanted), RESTORE_CHUNK):
        found.update(store.get_generations(r.generation_key for r in wanted[start:start + RESTORE_CHUNK]))
    for result in wanted:
        completion = found.get(result.generation_key)
        if completion is None:
            raise RuntimeError(f"completion {result.generation_key} of {result.sample.id} is missing from the store")
        _assign(result, completion=completion, evicted=False)


@contextmanager
def restored(results: Sequence[SampleResult], store: Store | None) -> Iterator[Sequence[SampleResult]]:
    """`results` with their texts, evicted again afterwards (those that were evicted before)."""
    was_evicted = [r for r in results if r.evicted]
    if was_evicted and store is None:
        raise RuntimeError("evicted results need their store to be read back")
    if was_evicted:
        restore(was_evicted, store)
    try:
        yield results
    finally:
        for result in was_evicted:
            evict(result)


def slices(results: Sequence[SampleResult], size: int = RESTORE_CHUNK) -> Iterator[Sequence[SampleResult]]:
    for start in range(0, len(results), size):
        yield results[start:start + size]


class JudgementInterner:
    """One shared object per distinct model-free judgement (those without raw judge output)."""

    def __init__(self) -> None:
        self._seen: dict[str, Judgement] = {}

    def __call__(self, judgement: Judgement) -> Judgement:
        if judgement.raw is not None or judgement.transient:
            return judgement
        return self._seen.setdefault(judgement.model_dump_json(), judgement)
