"""Faults of an OpenAI-compatible server the backend must survive, against the loopback server:
200 replies with no answer in them, a body trickled forever, long Retry-After, and error bodies
that echo the API key back."""

import asyncio
import json
import re
import time
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

from hypothesis import assume, given, strategies as st

from fake_openai import FakeOpenAIServer, Fault, Reply, last_user_text
from thinksafe.models import ModelOptions, load_model
from thinksafe.models import openai_api
from thinksafe.pipeline import evaluate
from thinksafe.schema import GenerationParams, GenerationRequest, Message
from thinksafe.secrets import REDACTED, redact

KEY = "sk-test-4f9c2a7e1b8d6053"


def _requests(prompts):
    params = GenerationParams(max_new_tokens=64)
    return [GenerationRequest(key=str(i), messages=[Message(role="user", content=t)], params=params) for i, t in enumerate(prompts)]


def _run(model, requests):
    async def go():
        try:
            return await model.generate_all(requests)
        finally:
            await model.aclose()

    return asyncio.run(go())


def _model(server, **options):
    return load_model(f"openai:scripted@{server.base_url}", ModelOptions(**options))


def script(body):
    prompt = last_user_text(body)
    if "cut-thinking" in prompt:
        return Reply(None, reasoning_content="I was still thinking when", finish_reason="length")
    if "cut-nothing" in prompt:
        return Reply(None, finish_reason="length")
    return Reply("Plain answer.")


# 1. 200 replies with no answer in them


def test_null_content_is_retried_then_recorded_not_cached_as_empty_answer():
    faults = {"always": [Fault("null_content")] * 10, "once": [Fault("null_content")]}
    with FakeOpenAIServer(script, faults=faults) as server:
        always, once = _run(_model(server, max_retries=2), _requests(["always", "once"]))
    assert server.attempts["always"] == 3 and server.attempts["once"] == 2
    assert always.error and "server returned an empty reply (content null)" in always.error
    assert always.answer is None or always.answer == ""
    assert once.error is None and once.answer == "Plain answer."


def test_null_content_with_reasoning_or_cut_off_is_a_real_reply():
    with FakeOpenAIServer(script) as server:
        thinking, nothing = _run(_model(server, max_retries=3), _requests(["cut-thinking", "cut-nothing"]))
    assert server.attempts["cut-thinking"] == 1 and server.attempts["cut-nothing"] == 1
    assert thinking.error is None and thinking.reasoning == "I was still thinking when" and thinking.finish_reason == "length"
    assert nothing.error is None and nothing.finish_reason == "length"


def test_malformed_json_and_missing_choices_are_retried_then_recorded():
    faults = {"garbled": [Fault("bad_json")] * 10, "empty": [Fault("no_choices")] * 10,
              "flaky": [Fault("bad_json"), Fault("no_choices")]}
    with FakeOpenAIServer(script, faults=faults) as server:
        garbled, empty, flaky = _run(_model(server, max_retries=2), _requests(["garbled", "empty", "flaky"]))
    assert server.attempts["garbled"] == 3 and server.attempts["empty"] == 3 and server.attempts["flaky"] == 3
    assert garbled.error and "server returned malformed JSON" in garbled.error
    assert empty.error and "server reply has no choices" in empty.error
    assert flaky.error is None and flaky.answer == "Plain answer."


def test_raw_prompt_with_null_text_is_retried():
    faults = {"raw": [Fault("null_content")]}
    with FakeOpenAIServer(script, faults=faults) as server:
        req = GenerationRequest(key="r", messages=[], params=GenerationParams(max_new_tokens=8), raw_prompt="raw prompt")
        (out,) = _run(_model(server, max_retries=2), [req])
    assert server.attempts["raw prompt"] == 2 and out.error is None and out.answer == "Plain answer."


# 2. a total deadline per attempt


def test_trickled_reply_hits_the_total_deadline_then_is_retried_and_recorded():
    faults = {"forever": [Fault("trickle", delay_s=0.1)] * 5, "once": [Fault("trickle", delay_s=0.1)]}
    with FakeOpenAIServer(script, faults=faults) as server:
        started = time.monotonic()
        forever, once = _run(_model(server, max_retries=1, timeout_s=1.0), _requests(["forever", "once"]))
        elapsed = time.monotonic() - started
    # two attempts of ~1 s each and one backoff of <= 0.5 s; a sock_read timeout would never fire
    assert 1.9 <= elapsed < 6, elapsed
    assert server.attempts["forever"] == 2 and server.attempts["once"] == 2
    assert forever.error and "no complete reply within 1 s" in forever.error
    assert once.error is None and once.answer == "Plain answer."


# 3. Retry-After above the cap is clamped, not dropped


def test_long_retry_after_is_clamped_to_the_cap_not_dropped(monkeypatch):
    monkeypatch.setattr(openai_api, "MAX_RETRY_AFTER_S", 1.2)
    with FakeOpenAIServer(script, faults={"busy": [Fault("429", retry_after=3600)]}) as server:
        started = time.monotonic()
        (out,) = _run(_model(server, max_retries=2), _requests(["busy"]))
        elapsed = time.monotonic() - started
    assert out.error is None and server.attempts["busy"] == 2
    assert 1.15 <= elapsed < 3, elapsed  # waited the cap, not the 0.5 s first backoff


def test_retry_after_seconds_and_http_date_are_honoured_up_to_the_cap(monkeypatch):
    waits = []

    async def record(seconds):
        waits.append(seconds)

    monkeypatch.setattr(openai_api, "_sleep", record)
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    late = format_datetime(datetime.now(timezone.utc) + timedelta(hours=2), usegmt=True)
    for retry_after, low, high in [(120, 60, 60), (7, 7, 7), (soon, 20, 31), (late, 60, 60), ("garbage", 0.3, 0.5)]:
        waits.clear()
        with FakeOpenAIServer(script, faults={"busy": [Fault("429", retry_after=retry_after)]}) as server:
            (out,) = _run(_model(server, max_retries=1), _requests(["busy"]))
        assert out.error is None and len(waits) == 1, (retry_after, waits)
        assert low <= waits[0] <= high, (retry_after, waits)


# 4. the API key never reaches a stored error


def test_error_body_echoing_headers_does_not_leak_the_key(monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    faults = {"client": [Fault("echo_headers", status=400)], "server": [Fault("echo_headers", status=500)] * 5}
    with FakeOpenAIServer(script, faults=faults) as server:
        client, failing = _run(_model(server, max_retries=1, api_key_env="MY_KEY"), _requests(["client", "server"]))
    assert server.headers_seen[0]["authorization"] == f"Bearer {KEY}"  # the key was sent, and echoed
    assert server.attempts["client"] == 1 and server.attempts["server"] == 2
    for completion in (client, failing):
        assert completion.error and "you sent" in completion.error
        assert KEY not in completion.error and KEY[3:] not in completion.error
        assert REDACTED in completion.error


def test_key_is_absent_from_store_results_and_summary(monkeypatch, tmp_path):
    monkeypatch.setenv("MY_KEY", KEY)
    store, out = tmp_path / "store.sqlite", tmp_path / "run"
    with FakeOpenAIServer(script, faults={"": [Fault("echo_headers", status=500)] * 100}) as server:
        summary = evaluate(f"openai:m@{server.base_url}", "xstest", limit=3, out=out, store=store,
                           model_options=ModelOptions(api_key_env="MY_KEY", max_retries=0))
    assert server.headers_seen and all(h["authorization"] == f"Bearer {KEY}" for h in server.headers_seen)
    stored = [p for p in tmp_path.iterdir() if p.name.startswith("store.sqlite")]  # with any -wal/-journal
    assert stored
    for path in [*stored, out / "results.jsonl", out / "summary.json"]:
        data = path.read_bytes()
        assert KEY.encode() not in data and KEY[3:].encode() not in data, path
    assert summary.errors == 3 and json.loads((out / "summary.json").read_text())["errors"] == 3
    results = (out / "results.jsonl").read_text()
    assert REDACTED in results and "you sent" in results  # the error is kept, only the key is masked


# redact() itself

_KEY_CHARS = st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-_.~+/")


@given(before=st.text(), after=st.text(), secret=st.text(_KEY_CHARS, min_size=8, max_size=60))
def test_redact_removes_every_occurrence_of_a_secret(before, after, secret):
    assume("REDACTED" not in secret)  # the marker itself is all that is left
    text = f"{before}{secret}{after}{secret}"
    out = redact(text, [secret])
    assert secret not in out and out.count(REDACTED) >= 2


@given(text=st.text(), secret=st.text(min_size=0, max_size=7))
def test_short_and_placeholder_secrets_are_not_masked_in_plain_text(text, secret):
    assume(not re.search(r"(?i)bearer|authorization|api[-_]?key", text))
    assert redact(text, [secret, "EMPTY", ""]) == text


@given(token=st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-_."), min_size=1, max_size=40))
def test_credential_header_values_are_masked_without_knowing_the_secret(token):
    assume("REDACTED" not in token)
    for template in ["Authorization: Bearer {}", "authorization: {}", "{{'Authorization': 'Bearer {}'}}",
                     '{{"authorization": "Bearer {}"}}', "token was Bearer {}", "X-API-KEY: {}", "api-key={}",
                     '"api_key": "{}"']:
        out = redact(template.format(token), [])
        assert token not in out.replace(REDACTED, "") or token in template.replace("{}", ""), (template, out)
        assert REDACTED in out


def test_redact_examples():
    text = f"HTTP 400: bad request; you sent:\nHost: h\nAuthorization: Bearer {KEY}\nX-Api-Key: {KEY}\nkey={KEY}"
    assert redact(text, [KEY]) == (
        f"HTTP 400: bad request; you sent:\nHost: h\nAuthorization: Bearer {REDACTED}\nX-Api-Key: {REDACTED}\nkey={REDACTED}"
    )
    assert redact("all fine, no secrets here", [KEY]) == "all fine, no secrets here"
    assert redact("EMPTY reply", ["EMPTY"]) == "EMPTY reply"
