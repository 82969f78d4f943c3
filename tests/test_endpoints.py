"""Many endpoints for one model: the pool (pure, with a fake clock), the openai backend spreading
requests over three loopback servers and surviving a failing or dead one, and the cache identity
that no endpoint list changes."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Fault, Reply, last_user_text
from thinksafe.cli import app, check_eval_args
from thinksafe.errors import ArgumentError
from thinksafe.models import endpoints as endpoints_module
from thinksafe.models import openai_api
from thinksafe.models.base import ModelOptions, canonical_spec, load_model
from thinksafe.models.endpoints import EndpointPool, normalise_urls, read_urls_file
from thinksafe.schema import GenerationParams, GenerationRequest, Message

runner = CliRunner()
SORRY = "I'm sorry, but I can't help with that."


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def script(body):
    prompt = last_user_text(body)
    answer = SORRY if len(prompt) % 3 == 0 else "Sure, here you go."
    return Reply(f"<think>thinking about {len(prompt)}</think>{answer}", delay_s=0.02)


def _requests(n):
    params = GenerationParams(max_new_tokens=16)
    return [GenerationRequest(key=str(i), messages=[Message(role="user", content=f"prompt {i}")], params=params)
            for i in range(n)]


def _generate(model, requests):
    async def go():
        try:
            return await model.generate_all(requests)
        finally:
            await model.aclose()

    return asyncio.run(go())


def _served(server) -> int:
    return sum(server.attempts.values())


# ------------------------------------------------------------------------------ the pool, pure


def test_least_outstanding_with_round_robin_ties():
    pool = EndpointPool(["http://a/v1", "http://b/v1/", "http://c/v1"], clock=Clock())
    first = [pool.acquire().url for _ in range(3)]
    assert first == ["http://a/v1", "http://b/v1", "http://c/v1"]  # ties: round-robin
    a = pool.endpoints[0]
    pool.release(a, True)  # a has 0 in flight now, b and c 1 each
    assert pool.acquire() is a
    pool.release(pool.endpoints[1], True)
    pool.release(pool.endpoints[2], True)
    pool.release(a, True)
    picks = []  # all idle: a quiet pool still rotates
    for _ in range(6):
        endpoint = pool.acquire()
        picks.append(endpoint.url[-4])
        pool.release(endpoint, True)
    assert sorted(picks) == ["a", "a", "b", "b", "c", "c"]


def test_cooldown_doubles_to_the_cap_then_resets_on_success(monkeypatch):
    clock = Clock()
    pool = EndpointPool(["http://a", "http://b"], initial_cooldown_s=2, max_cooldown_s=60, clock=clock)
    a, b = pool.endpoints
    cooldowns = []
    for _ in range(7):
        assert pool.acquire() is a  # a is tried first (least loaded, then its turn)...
        pool.release(a, False)
        cooldowns.append(a.down_until - clock.now)
        got = pool.acquire()
        assert got is b  # ...and while a is out every request goes to b
        pool.release(b, True)
        clock.now = a.down_until  # back on probation
        pool._next = 0
    assert cooldowns == [2, 4, 8, 16, 32, 60, 60]
    assert pool.acquire() is a
    pool.release(a, True)
    assert a.failures == 0 and a.down_until == 0.0
    pool.release(pool.acquire(), False)  # fails again later: the cool-down starts over at 2 s
    assert pool.endpoints[0].down_until - clock.now == 2 or pool.endpoints[1].down_until - clock.now == 2


def test_failures_in_flight_while_out_do_not_lengthen_the_cooldown():
    clock = Clock()
    pool = EndpointPool(["http://a", "http://b"], initial_cooldown_s=2, clock=clock)
    a = pool.endpoints[0]
    taken = [pool.acquire() for _ in range(6)]  # three each
    for endpoint in taken:
        if endpoint is a:
            pool.release(endpoint, False)
    assert a.failures == 1 and a.down_until == clock.now + 2 and a.failed == 3


def test_probation_allows_one_request_and_all_out_waits_for_the_earliest():
    clock = Clock()
    pool = EndpointPool(["http://a", "http://b"], initial_cooldown_s=2, clock=clock)
    a, b = pool.endpoints
    pool.release(pool.acquire(), False)
    clock.now += 1
    pool.release(pool.acquire(), False)  # a out until 102, b until 103
    assert pool.acquire() is None
    assert pool.wait_s() == pytest.approx(1.0)
    assert pool.up() == []
    clock.now = 102.0
    probe = pool.acquire()
    assert probe is a
    assert pool.acquire() is None  # a is probing with one request; b still out
    assert 0 < pool.wait_s() <= 1.0
    pool.release(probe, True)
    assert [pool.acquire(), pool.acquire()] == [a, a]  # a is fully back


def test_a_neutral_outcome_changes_nothing_but_the_count():
    pool = EndpointPool(["http://a"], clock=Clock())
    endpoint = pool.acquire()
    pool.release(endpoint, None)
    assert endpoint.in_flight == 0 and endpoint.failures == 0 and endpoint.served == 0


def test_url_lists_and_files():
    assert normalise_urls(["http://a/v1/", " http://b/v1", "", None, "http://a/v1"]) == ["http://a/v1", "http://b/v1"]
    text = "# servers\nhttp://a/v1\n\n  http://b/v1   # the second\n#http://c/v1\n"
    assert read_urls_file(text) == ["http://a/v1", "http://b/v1"]
    with pytest.raises(ValueError):
        EndpointPool([" ", ""])


# ------------------------------------------------------------------------------ the cache identity


def test_identity_of_several_endpoints_ignores_the_list_and_one_endpoint_is_unchanged():
    one = ModelOptions(base_url="http://a/v1/")
    assert canonical_spec("openai:m", one) == "openai:m@http://a/v1"
    assert canonical_spec("openai:m", ModelOptions(base_urls=["http://a/v1"])) == "openai:m@http://a/v1"
    pools = [["http://a/v1", "http://b/v1"], ["http://b/v1", "http://a/v1", "http://c/v1"], ["http://c/v1", "http://d/v1"]]
    assert {canonical_spec("openai:m", ModelOptions(base_urls=urls)) for urls in pools} == {"openai:m@*"}
    assert canonical_spec("openai:m", ModelOptions(base_url="http://a/v1", base_urls=["http://a/v1/"])) == "openai:m@http://a/v1"
    # a server named in the spec is the only one, for the identity and for the backend
    spec_url = ModelOptions(base_urls=["http://a/v1", "http://b/v1"])
    assert canonical_spec("openai:m@http://z/v1", spec_url) == "openai:m@http://z/v1"
    assert [e.url for e in load_model("openai:m@http://z/v1", spec_url).pool.endpoints] == ["http://z/v1"]
    assert canonical_spec("hf:x", spec_url) == "hf:x"


def test_cli_checks_endpoint_options(tmp_path):
    urls = tmp_path / "urls.txt"
    urls.write_text("# two\nhttp://a/v1\nhttp://b/v1\n")
    check_eval_args(model="openai:m", benchmark="xstest", base_url=["http://x/v1"], base_urls_file=urls)
    with pytest.raises(ArgumentError, match="must start with http"):
        check_eval_args(model="openai:m", benchmark="xstest", base_url=["http://x/v1", "x:80"])
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(ArgumentError, match="names no URL"):
        check_eval_args(model="openai:m", benchmark="xstest", base_urls_file=tmp_path / "empty.txt")
    with pytest.raises(ArgumentError, match="cannot read"):
        check_eval_args(model="openai:m", benchmark="xstest", base_urls_file=tmp_path / "missing.txt")
    with pytest.raises(ArgumentError, match="drop the @URL"):
        check_eval_args(model="openai:m@http://z/v1", benchmark="xstest", base_url=["http://a/v1", "http://b/v1"])


# ------------------------------------------------------------------------------ the backend over loopback


def test_requests_spread_over_three_servers_under_load():
    with FakeOpenAIServer(script) as a, FakeOpenAIServer(script) as b, FakeOpenAIServer(script) as c:
        options = ModelOptions(base_urls=[a.base_url, b.base_url, c.base_url], concurrency=4)
        model = load_model("openai:scripted", options)
        completions = _generate(model, _requests(90))
    assert all(x.error is None for x in completions)
    counts = [_served(s) for s in (a, b, c)]
    assert sum(counts) == 90 and min(counts) >= 20, counts  # ideal 30 each
    assert model._limit._value == 12  # concurrency is per endpoint: 4 x 3 in flight at most


@pytest.mark.parametrize("kind", ["500", "drop"])
def test_a_failing_endpoint_is_taken_out_and_tried_again_after_its_cooldown(monkeypatch, kind):
    monkeypatch.setattr(endpoints_module, "INITIAL_COOLDOWN_S", 0.3)
    waits = []
    real_sleep = asyncio.sleep

    async def recorded(seconds):
        waits.append(seconds)
        await real_sleep(seconds)

    monkeypatch.setattr(openai_api, "_sleep", recorded)
    with FakeOpenAIServer(script) as a, FakeOpenAIServer(script) as b, \
            FakeOpenAIServer(script, faults={"": [Fault(kind)] * 1000}) as broken:
        model = load_model("openai:scripted", ModelOptions(base_urls=[a.base_url, broken.base_url, b.base_url],
                                                           concurrency=4, max_retries=2))

        async def go():
            try:
                first = await model.generate_all(_requests(60))
                tried_while_broken = _served(broken)
                broken.faults.clear()  # the server recovers
                await asyncio.sleep(0.5)  # past its cool-down (0.3 s, or 0.6 s after a second failure)
                second = await model.generate_all(_requests(60)[::-1])
                return first, tried_while_broken, second
            finally:
                await model.aclose()

        first, tried_while_broken, second = asyncio.run(go())
    assert all(x.error is None for x in first + second), [x.error for x in first if x.error]
    # out after the first failures (the requests then in flight), then one probe per cool-down
    assert 1 <= tried_while_broken <= 12, tried_while_broken
    assert all(w == 0 or w < 0.7 for w in waits), waits  # no backoff for an endpoint fault: retried elsewhere
    after = _served(broken) - tried_while_broken
    assert after >= 10, after  # back in the rotation once its probe succeeded
    assert model.pool.endpoints[1].failures == 0


def test_a_dead_endpoint_costs_nothing_and_all_out_waits_for_the_earliest(monkeypatch):
    monkeypatch.setattr(endpoints_module, "INITIAL_COOLDOWN_S", 0.2)
    with FakeOpenAIServer(script) as live:
        model = load_model("openai:scripted", ModelOptions(base_urls=[closed_port_url(), live.base_url], concurrency=2))
        completions = _generate(model, _requests(20))
    assert all(x.error is None for x in completions)
    assert _served(live) == 20
    dead = model.pool.endpoints[0]
    assert dead.failed >= 1 and dead.served == 0

    # every endpoint dead: retried within max_retries, each wait the time to the earliest comeback
    model = load_model("openai:scripted", ModelOptions(base_urls=[closed_port_url(), closed_port_url()], max_retries=3))
    started = time.monotonic()
    (failed,) = _generate(model, _requests(1))
    assert failed.error and "APIConnectionError" in failed.error
    assert sum(e.failed for e in model.pool.endpoints) == 4  # 1 attempt + 3 retries
    assert time.monotonic() - started < 5


def test_one_endpoint_keeps_the_backoff_and_is_never_taken_out(monkeypatch):
    waits = []

    async def no_wait(seconds):
        waits.append(seconds)

    monkeypatch.setattr(openai_api, "_sleep", no_wait)
    with FakeOpenAIServer(script, faults={"prompt 0": [Fault("500"), Fault("500")]}) as server:
        model = load_model(f"openai:scripted@{server.base_url}", ModelOptions(max_retries=3))
        (done,) = _generate(model, _requests(1))
    assert done.error is None and server.attempts["prompt 0"] == 3
    assert len(waits) == 2 and 0.375 <= waits[0] <= 0.5 and 0.75 <= waits[1] <= 1.0  # backoff, as before
    assert model.pool.endpoints[0].failures == 0


# ------------------------------------------------------------------------------ whole runs: same results, same cache


def _eval(store, out, *args):
    result = runner.invoke(app, ["eval", "--model", "openai:scripted", "--benchmark", "xstest", "--limit", "30",
                                 "--store", str(store), "--out", str(out), "--no-progress", "--no-report",
                                 "--concurrency", "4", *args])
    assert result.exit_code == 0, result.output + str(result.exception)
    return json.loads((out / "summary.json").read_text())


def _metrics(summary):
    return summary["metrics"]  # values, intervals, counts, per group


def _answers(out):
    """results.jsonl, every line whole (ids, answers, thinking, judgements), in file order."""
    return (out / "results.jsonl").read_text().splitlines()


def test_three_endpoints_give_the_single_endpoint_results_and_reordering_or_adding_one_hits_the_store(tmp_path, mirror):
    with FakeOpenAIServer(script) as a, FakeOpenAIServer(script) as b, FakeOpenAIServer(script) as c:
        single = _eval(tmp_path / "one.sqlite", tmp_path / "one", "--base-url", a.base_url)
        assert single["model"] == f"openai:scripted@{a.base_url}"
        for s in (a, b, c):
            s.attempts.clear()

        urls = tmp_path / "urls.txt"
        urls.write_text(f"# the rest\n{c.base_url}\n")
        many = _eval(tmp_path / "many.sqlite", tmp_path / "many", "--base-url", a.base_url, "--base-url", b.base_url,
                     "--base-urls-file", str(urls))
        assert many["model"] == "openai:scripted@*"
        assert all(_served(s) > 0 for s in (a, b, c)) and sum(_served(s) for s in (a, b, c)) == 30
        assert _metrics(many) == _metrics(single)
        assert _answers(tmp_path / "many") == _answers(tmp_path / "one")

        for s in (a, b, c):
            s.attempts.clear()
        again = _eval(tmp_path / "many.sqlite", tmp_path / "again", "--base-url", c.base_url, "--base-url", b.base_url,
                      "--base-url", a.base_url)
        with FakeOpenAIServer(script) as d:  # one more server joins: still the same model, still cached
            more = _eval(tmp_path / "many.sqlite", tmp_path / "more", "--base-urls-file", str(urls),
                         "--base-url", d.base_url, "--base-url", b.base_url)
            assert _served(d) == 0
        assert sum(_served(s) for s in (a, b, c)) == 0
        assert _metrics(again) == _metrics(more) == _metrics(single)
