"""Lean results: completion texts leave memory once judged inline and come back from the store,
whole, for LLM judges, for results.jsonl and for Python callers that keep them."""

from __future__ import annotations

import asyncio
import json

import pytest

from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.lean import REASONING_MARK, JudgementInterner, evict, restore, restored
from thinksafe.pipeline import evaluate_async
from thinksafe.schema import Completion, GenerationParams, Judgement, Message, Sample, SampleResult
from thinksafe.store import Store

THINKING = "This request is harmful and illegal, so I should refuse it."


def _result(store: Store, key: str, completion: Completion) -> SampleResult:
    store.put_generation(key, "m", completion)
    sample = Sample(id=key, benchmark="b", messages=[Message(role="user", content="q")])
    return SampleResult(sample=sample, generation_key=key, completion=completion)


def test_evict_keeps_what_metrics_read_and_restore_brings_the_texts_back(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    full = Completion(text=f"<think>{THINKING}</think>No.", reasoning=THINKING, answer="No.", finish_reason="stop",
                      prompt_tokens=5, completion_tokens=9, reasoning_truncated=False)
    blank = Completion(text="  ok", reasoning="  ", answer="ok")
    failed = Completion(error="HTTP 500: boom")
    results = [_result(store, "a", full), _result(store, "b", blank), _result(store, "c", failed)]
    for result in results:
        evict(result)
    lean = results[0]
    assert lean.evicted and lean.reflection is True
    assert (lean.completion.text, lean.completion.answer, lean.completion.reasoning) == ("", "", REASONING_MARK)
    assert (lean.completion.finish_reason, lean.completion.completion_tokens) == ("stop", 9)
    assert results[1].completion.reasoning == "  " and results[1].reflection is None  # blank thinking stays blank
    assert not results[2].evicted and results[2].completion.error == "HTTP 500: boom"
    with pytest.raises(AttributeError):
        lean.completion.answer = "x"  # a lean completion is never written to
    with restored(results, store):
        assert results[0].completion == full and results[1].completion == blank
    assert results[0].evicted and results[0].completion.answer == ""  # lean again afterwards
    restore(results, store)
    assert results[0].completion == full and not results[0].evicted
    store.close()


def test_interner_shares_model_free_judgements_only():
    intern = JudgementInterner()
    a = intern(Judgement(judge="r", channel="answer", label="refusal", unsafe=False))
    b = intern(Judgement(judge="r", channel="answer", label="refusal", unsafe=False))
    raw = Judgement(judge="llm", channel="answer", label="refusal", raw="VERDICT: refusal")
    assert a is b and intern(raw) is raw
    assert intern(Judgement(judge="r", channel="reasoning", label="refusal", unsafe=False)) is not a


def script(body):
    prompt = last_user_text(body)
    if "VERDICT" in json.dumps(body) or "judge" in str(body.get("model")):
        return Reply("VERDICT: refusal")
    return Reply(content=f"I'm sorry, I can't help with: {prompt}", reasoning_content=THINKING)


@pytest.mark.parametrize("keep_texts", [False, True])
def test_a_run_holds_lean_results_and_writes_whole_ones(mirror, tmp_path, keep_texts):
    with FakeOpenAIServer(script) as target, FakeOpenAIServer(lambda body: Reply("Refusal: yes\nVERDICT: refusal")) as judge:
        summary, results = asyncio.run(evaluate_async(
            f"openai:t@{target.base_url}", "strongreject-small", limit=6, out=tmp_path / "out", store=tmp_path / "s.sqlite",
            judges=["refusal-rules", "refusal-llm"], judge_model=f"openai:judge@{judge.base_url}",
            params=GenerationParams(max_new_tokens=64), keep_texts=keep_texts))
        judged_texts = [json.dumps(body, ensure_ascii=False) for body in judge.bodies]
    rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all(r["answer"].startswith("I'm sorry, I can't help with: ") for r in rows)
    assert all(r["reasoning"] == THINKING for r in rows)
    for row in rows:  # the LLM judge saw each whole answer, read back from the store
        assert any(row["answer"] in text for text in judged_texts), row["id"]
    assert summary.reasoning_present == 6
    assert summary.extra["thinking_vs_answer"]["refusal-rules"]["reflected"] == 6
    assert all(r.evicted is not keep_texts for r in results)
    assert all((r.completion.answer != "") is keep_texts for r in results)
