import asyncio
import time

import pytest

from fake_openai import FakeOpenAIServer, Fault, Reply, last_user_text
from thinksafe.models import ModelOptions, load_model, parse_spec
from thinksafe.models.base import canonical_spec
from thinksafe.schema import GenerationParams, GenerationRequest, Message


def _requests(prompts, **params):
    p = GenerationParams(max_new_tokens=64, **params)
    return [GenerationRequest(key=str(i), messages=[Message(role="user", content=t)], params=p) for i, t in enumerate(prompts)]


def _run(model, requests):
    async def go():
        try:
            return await model.generate_all(requests)
        finally:
            await model.aclose()

    return asyncio.run(go())


def script(body):
    prompt = last_user_text(body)
    if "tags" in prompt:
        return Reply("<think>tagged thinking</think>Tagged answer.")
    if "opened" in prompt:
        return Reply("opened thinking\n</think>\n\nOpened answer.")
    if "field" in prompt:
        return Reply("Field answer.", reasoning_content="field thinking")
    return Reply("Plain answer.")


def test_spec_parsing():
    assert parse_spec("openai:m@http://h:1/v1") == ("openai", "m", "http://h:1/v1")
    assert parse_spec("hf:org/model+adapters/x") == ("hf", "org/model+adapters/x", None)
    with pytest.raises(ValueError):
        parse_spec("nocolon")
    assert canonical_spec("openai:m", ModelOptions(base_url="http://h/v1/")) == "openai:m@http://h/v1"


def test_channels_from_every_reply_shape():
    with FakeOpenAIServer(script) as server:
        model = load_model(f"openai:scripted@{server.base_url}")
        out = _run(model, _requests(["tags", "opened", "field", "plain"]))
    assert [(c.reasoning, c.answer) for c in out] == [
        ("tagged thinking", "Tagged answer."),
        ("opened thinking", "Opened answer."),
        ("field thinking", "Field answer."),
        (None, "Plain answer."),
    ]


def test_sampling_parameters_reach_the_server():
    with FakeOpenAIServer(script) as server:
        model = load_model(f"openai:scripted@{server.base_url}")
        _run(model, _requests(["x"], temperature=0.6, top_p=0.95, seed=7))
        greedy = load_model(f"openai:scripted@{server.base_url}")
        _run(greedy, _requests(["y"], temperature=0.0))
    sampled, plain = server.bodies
    assert (sampled["temperature"], sampled["top_p"], sampled["seed"], sampled["max_tokens"]) == (0.6, 0.95, 7, 64)
    assert plain["temperature"] == 0.0 and "top_p" not in plain


def test_retries_429_with_retry_after_then_500_then_dropped_connection():
    faults = {
        "rate": [Fault("429", retry_after=1)],
        "boom": [Fault("500"), Fault("500")],
        "drop": [Fault("drop")],
    }
    with FakeOpenAIServer(script, faults=faults) as server:
        model = load_model(f"openai:scripted@{server.base_url}", ModelOptions(max_retries=3))
        started = time.monotonic()
        out = _run(model, _requests(["rate", "boom", "drop"]))
        elapsed = time.monotonic() - started
    assert all(c.error is None and c.answer == "Plain answer." for c in out)
    assert server.attempts["rate"] == 2 and server.attempts["boom"] == 3 and server.attempts["drop"] == 2
    assert elapsed >= 1.0  # Retry-After: 1 was honoured


def test_request_that_keeps_failing_is_recorded_not_dropped():
    with FakeOpenAIServer(script, faults={"bad": [Fault("500")] * 10}) as server:
        model = load_model(f"openai:scripted@{server.base_url}", ModelOptions(max_retries=2))
        out = _run(model, _requests(["bad", "good"]))
    assert out[0].error and "500" in out[0].error
    assert out[1].error is None
    assert server.attempts["bad"] == 3


def test_slow_reply_times_out_and_is_recorded():
    with FakeOpenAIServer(script, faults={"slow": [Fault("slow", delay_s=2.0)] * 5}) as server:
        model = load_model(f"openai:scripted@{server.base_url}", ModelOptions(max_retries=0, timeout_s=0.5))
        out = _run(model, _requests(["slow"]))
    assert out[0].error and "Timeout" in out[0].error


def test_concurrency_limit_is_respected():
    active = {"now": 0, "peak": 0}
    import threading

    lock = threading.Lock()

    def counting(body):
        with lock:
            active["now"] += 1
            active["peak"] = max(active["peak"], active["now"])
        time.sleep(0.05)
        with lock:
            active["now"] -= 1
        return Reply("ok")

    with FakeOpenAIServer(counting) as server:
        model = load_model(f"openai:scripted@{server.base_url}", ModelOptions(concurrency=3))
        _run(model, _requests([f"p{i}" for i in range(12)]))
    assert active["peak"] <= 3


def test_api_key_from_environment_is_sent_but_not_in_spec(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-123")
    with FakeOpenAIServer(script) as server:
        model = load_model(f"openai:scripted@{server.base_url}", ModelOptions(api_key_env="MY_KEY"))
        _run(model, _requests(["x"]))
    assert server.headers_seen[0].get("authorization") == "Bearer sk-secret-123"
    assert "sk-secret" not in model.spec


def test_completions_endpoint_for_raw_prompts():
    with FakeOpenAIServer(lambda body: Reply("raw completion")) as server:
        model = load_model(f"openai:scripted@{server.base_url}")
        req = GenerationRequest(key="r", messages=[], params=GenerationParams(max_new_tokens=8), raw_prompt="[INST] hi [/INST]")
        (out,) = _run(model, [req])
    assert out.answer == "raw completion" and server.bodies[0]["prompt"] == "[INST] hi [/INST]"


def test_thinking_cut_off_in_the_reasoning_field_is_truncated():
    """A server's reasoning parser returns a thinking that never closed wholly as `reasoning`, content empty."""
    def cut(body):
        prompt = last_user_text(body)
        if "cut" in prompt:
            return Reply("", reasoning_content="still thinking and thinking", finish_reason="length")
        return Reply("Done.", reasoning_content="short thought", finish_reason="length")

    with FakeOpenAIServer(cut) as server:
        model = load_model(f"openai:m@{server.base_url}", ModelOptions(api_key_env=None))
        cut_off, answered = _run(model, _requests(["cut here", "answer here"]))
    assert cut_off.reasoning_truncated and cut_off.answer == "" and cut_off.reasoning == "still thinking and thinking"
    assert not answered.reasoning_truncated and answered.answer == "Done."
