"""The paged continuous-batching engine: greedy output equals `generate`, token for token (CPU, fp32)."""

import asyncio

import pytest
import torch

from thinksafe.models import ModelOptions, load_model
from thinksafe.engine.paged import EngineConfig, EngineRequest, PagedEngine
from thinksafe.engine.model import unsupported_reason
from thinksafe.schema import GenerationParams, GenerationRequest, Message

PROMPTS = [
    "How can I kill a Python process?",
    "Water boils",
    "抱歉，我无法提供这方面的帮助。请遵守法律法规。 The answer is 42 and",
    "x",
    "Here is a step by step answer: first, second",
    "The capital of France is",
]
MAX_NEW = [20, 7, 33, 12, 25, 16]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tiny_model import build_tiny_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = build_tiny_model(tmp_path_factory.mktemp("tiny-engine"), seed=3)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    return path, tokenizer, model


@pytest.fixture(scope="module")
def expected(tiny):
    """Prompt ids and `generate`'s greedy tokens for PROMPTS, computed once."""
    _, tokenizer, model = tiny
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]
    return ids, [reference(model, i, n) for i, n in zip(ids, MAX_NEW)]


def reference(model, ids, max_new):
    """Plain `generate`, one prompt at a time (no padding), greedy, EOS ignored."""
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=max_new, do_sample=False, eos_token_id=None, pad_token_id=0,
                             temperature=None, top_p=None, top_k=None)
    return out[0, len(ids):].tolist()


def run_engine(model, requests, **config):
    engine = PagedEngine(model, EngineConfig(**config), max_len=96)
    order, results = [], {}

    def done(result):
        order.append(result.index)
        results[result.index] = result

    stats = engine.run(requests, done)
    return engine, stats, order, results


@pytest.mark.parametrize(
    "config",
    [
        dict(max_rows=8, page_size=16),  # everything at once
        dict(max_rows=2, page_size=4, num_pages=40),  # rows refilled as sequences finish
        dict(max_rows=3, page_size=4, num_pages=18),  # pages run out: preemption and recompute
    ],
    ids=["all-at-once", "refill", "preempt"],
)
def test_greedy_tokens_equal_plain_generate(tiny, expected, config):
    _, _, model = tiny
    ids, want = expected
    requests = [EngineRequest(index=k, prompt_ids=i, max_new_tokens=n) for k, (i, n) in enumerate(zip(ids, MAX_NEW))]
    engine, stats, _, results = run_engine(model, requests, **config)
    assert [results[k].tokens for k in range(len(PROMPTS))] == want
    assert stats.generated_tokens == sum(MAX_NEW)
    assert all(not r.hit_stop for r in results.values())
    assert len(engine.free_pages) == engine.num_pages - 1  # every page came back
    if "num_pages" in config and config["num_pages"] == 18:
        assert stats.preemptions > 0
    if config["max_rows"] < len(PROMPTS):
        assert stats.decode_rows / stats.decode_steps <= config["max_rows"]


def test_finished_row_is_refilled_at_once(tiny):
    _, tokenizer, model = tiny
    ids = tokenizer("Water boils", add_special_tokens=False)["input_ids"]
    requests = [EngineRequest(index=k, prompt_ids=ids, max_new_tokens=n) for k, n in enumerate([3, 30, 5])]
    _, stats, order, _ = run_engine(model, requests, max_rows=2, page_size=4)
    # Request 2 takes request 0's row after 3 steps and finishes long before request 1.
    assert order == [0, 2, 1]
    assert stats.decode_steps == 29  # the first token of each comes from its prefill


def test_stop_ids_and_forced_stop(tiny):
    _, tokenizer, model = tiny
    ids = tokenizer("How can I kill a Python process?", add_special_tokens=False)["input_ids"]
    free = reference(model, ids, 12)
    stop = free[5]
    first = free.index(stop)
    requests = [
        EngineRequest(index=0, prompt_ids=ids, max_new_tokens=12, stop_ids=frozenset({stop})),
        EngineRequest(index=1, prompt_ids=ids, max_new_tokens=12, force_stop_at=4),
    ]
    _, _, _, results = run_engine(model, requests, max_rows=4)
    assert results[0].tokens == free[:first] and results[0].hit_stop
    assert results[1].tokens == free[:3] and results[1].hit_stop


def test_sampling_is_seeded_and_tiny_top_p_is_greedy(tiny, expected):
    _, _, model = tiny
    ids, want = expected[0][:3], expected[1][:3]
    sampled = [EngineRequest(index=k, prompt_ids=i, max_new_tokens=10, temperature=1.0, top_p=0.9) for k, i in enumerate(ids)]
    first = run_engine(model, sampled, max_rows=4, seed=5)[3]
    again = run_engine(model, sampled, max_rows=4, seed=5)[3]
    assert [first[k].tokens for k in range(3)] == [again[k].tokens for k in range(3)]
    assert all(0 <= t < model.config.vocab_size for r in first.values() for t in r.tokens)
    nucleus_of_one = [EngineRequest(index=k, prompt_ids=i, max_new_tokens=n, temperature=0.7, top_p=1e-9)
                      for k, (i, n) in enumerate(zip(ids, MAX_NEW))]
    narrow = run_engine(model, nucleus_of_one, max_rows=4)[3]
    assert [narrow[k].tokens for k in range(3)] == want


def test_request_longer_than_the_engine_is_refused(tiny):
    _, _, model = tiny
    with pytest.raises(ValueError, match="positions"):
        run_engine(model, [EngineRequest(index=0, prompt_ids=[5] * 90, max_new_tokens=10)], max_rows=2)


def test_unsupported_architecture_is_named():
    class Config:
        model_type = "gpt2"

    class Fake:
        config = Config()

    assert "gpt2" in unsupported_reason(Fake())


def _generate(spec, prompts, max_new, monkeypatch, engine="auto", **options):
    monkeypatch.setenv("THINKSAFE_HF_ENGINE", engine)
    params = GenerationParams(temperature=0.0, max_new_tokens=max_new)
    requests = [GenerationRequest(key=str(i), messages=[Message(role="user", content=p)], params=params)
                for i, p in enumerate(prompts)]

    async def go():
        model = load_model(spec, ModelOptions(**options))
        try:
            return model.engine, await model.generate_all(requests)
        finally:
            await model.aclose()

    return asyncio.run(go())


def test_hf_backend_uses_the_paged_engine_and_matches_generate(tiny, monkeypatch):
    from thinksafe.models.hf import PagedEngineRunner, render_prompt

    path, tokenizer, model = tiny
    engine, completions = _generate(f"hf:{path}", PROMPTS, 9, monkeypatch, batch_size=4)
    assert isinstance(engine, PagedEngineRunner)
    for prompt, completion in zip(PROMPTS, completions):
        rendered = render_prompt(tokenizer, [Message(role="user", content=prompt)])
        ids = tokenizer(rendered, add_special_tokens=False)["input_ids"]
        tokens = reference(model, ids, 9)
        cut = next((i for i, t in enumerate(tokens) if t == tokenizer.eos_token_id), len(tokens))
        assert completion.text == tokenizer.decode(tokens[:cut], skip_special_tokens=True)
        assert completion.completion_tokens == cut and completion.prompt_tokens == len(ids)
        assert completion.finish_reason == ("stop" if cut < 9 else "length")
        # The R1 template opens <think>; a random model does not close it in 9 tokens.
        assert completion.reasoning_truncated and completion.answer == ""


def test_static_engine_still_selectable(tiny, monkeypatch):
    from thinksafe.models.hf import StaticBatchEngine

    path, _, _ = tiny
    engine, completions = _generate(f"hf:{path}", PROMPTS[:2], 4, monkeypatch, engine="static")
    assert isinstance(engine, StaticBatchEngine)
    assert all(c.error is None and c.completion_tokens <= 4 for c in completions)


def test_engine_failure_becomes_error_completions(tiny, monkeypatch):
    from thinksafe.models.hf import PagedEngineRunner

    def explode(self, prepared, emit, should_stop):
        emit(prepared[0].index, [5, 6], False, 0.1)
        raise RuntimeError("CUDA out of memory (simulated)")

    monkeypatch.setattr(PagedEngineRunner, "run", explode)
    path, _, _ = tiny
    _, completions = _generate(f"hf:{path}", PROMPTS[:3], 4, monkeypatch)
    assert completions[0].error is None and completions[0].completion_tokens == 2
    assert [c.error for c in completions[1:]] == ["RuntimeError: CUDA out of memory (simulated)"] * 2
