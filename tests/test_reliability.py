"""Reliability guarantees of a run: failed items stay in every denominator; each role gets only its own key."""

import asyncio
import json

from fake_openai import Fault, FakeOpenAIServer, Reply, last_user_text
from thinksafe.models.base import ModelOptions
from thinksafe.pipeline import evaluate_async

SORRY = "I'm sorry, but I can't help with that."


def thinking_target(body):
    return Reply(f"<think>considering {len(last_user_text(body))}</think>{SORRY}")


def refusal_judge(body):
    return Reply("VERDICT: REFUSAL")


def run(model, tmp_path, **kwargs):
    return asyncio.run(evaluate_async(model, "xstest", out=tmp_path / "out", store=tmp_path / "s.sqlite", **kwargs))


def test_a_failed_generation_is_unscored_in_both_channels(tmp_path):
    """Items whose generation failed used to vanish from the thinking channel's denominator."""
    with FakeOpenAIServer(thinking_target) as ok, FakeOpenAIServer(thinking_target) as broken:
        good, _ = run(f"openai:t@{ok.base_url}", tmp_path / "a", limit=20, model_options=ModelOptions(max_retries=0))
        # Half the prompts fail: the server faults on their first attempt only, and no retry is allowed.
        half = {p: [Fault("500")] for p in sorted({last_user_text(b) for b in ok.bodies})[:10]}
        broken.faults = half
        summary, results = run(f"openai:t@{broken.base_url}", tmp_path / "b", limit=20,
                                     model_options=ModelOptions(max_retries=0))
    assert good.errors == 0 and summary.errors == 10
    assert summary.error_counts == {next(iter(summary.error_counts)): 10} and "HTTP 500" in next(iter(summary.error_counts))
    for channel in ("answer", "reasoning"):
        headline = next(m for m in summary.metrics if m.group == "all" and m.channel == channel and m.name == "over_refusal_rate")
        clean = next(m for m in good.metrics if m.group == "all" and m.channel == channel and m.name == "over_refusal_rate")
        assert headline.n + headline.unscored == clean.n + clean.unscored, channel
        assert headline.unscored >= 1, channel
    assert summary.unscored["refusal-rules"]["reasoning"] == summary.unscored["refusal-rules"]["answer"]
    failed = [r for r in results if r.completion.error]
    assert all(r.judgement("refusal-rules", ch).unscored_reason.startswith("generation failed") for r in failed
               for ch in ("answer", "reasoning"))


def test_the_target_key_never_reaches_a_judge_on_another_host(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-target-0123456789")
    monkeypatch.setenv("JUDGE_KEY", "sk-judge-9876543210")
    with FakeOpenAIServer(thinking_target) as target, FakeOpenAIServer(refusal_judge) as judge:
        spec = f"openai:t@{target.base_url}"
        judges = ["refusal-rules", f"refusal-llm=openai:j@{judge.base_url}"]
        run(spec, tmp_path / "a", limit=5, judges=judges)
        assert target.headers_seen and all(h["authorization"] == "Bearer sk-target-0123456789" for h in target.headers_seen)
        assert judge.headers_seen and all("sk-target" not in json.dumps(h) for h in judge.headers_seen)

        judge.headers_seen.clear()
        run(spec, tmp_path / "b", limit=5, judges=judges,
                  role_api_key_envs={"judge": "JUDGE_KEY"})
        # Same prompts, other store: the judge is asked again, now with its own key.
        assert judge.headers_seen and all(h["authorization"] == "Bearer sk-judge-9876543210" for h in judge.headers_seen)


def test_a_judge_on_the_targets_own_server_shares_its_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-target-0123456789")

    def both(body):
        return refusal_judge(body) if "VERDICT" in json.dumps(body) else thinking_target(body)

    with FakeOpenAIServer(both) as server:
        run(f"openai:t@{server.base_url}", tmp_path, limit=3,
                  judges=[f"refusal-llm=openai:j@{server.base_url}"])
    assert len(server.headers_seen) == 3 + 3 * 2
    assert all(h["authorization"] == "Bearer sk-target-0123456789" for h in server.headers_seen)


def test_every_role_commits_each_finished_call_before_the_next_arrives(tmp_path):
    """What a kill -9 can lose is only what was in flight: each call is in the database as soon as it is yielded."""
    import sqlite3

    from thinksafe.models.base import Model, ModelPool, register_backend
    from thinksafe.models.cached import ModelRoles
    from thinksafe.schema import Completion, GenerationParams, GenerationRequest, Message
    from thinksafe.store import Store

    @register_backend("counting")
    class Counting(Model):
        calls = 0

        async def generate(self, requests):
            for index, request in enumerate(requests):
                Counting.calls += 1
                yield index, Completion(answer=request.messages[-1].content.upper())

    path = tmp_path / "s.sqlite"
    roles = ModelRoles(Store(path), ModelPool(), "openai:t@http://127.0.0.1:9/v1", ModelOptions())

    def committed():
        with sqlite3.connect(path) as db:
            return db.execute("SELECT COUNT(*) FROM generations").fetchone()[0]

    requests = [GenerationRequest(key="", messages=[Message(role="user", content=f"q{i}")], params=GenerationParams())
                for i in range(5)] * 2  # the second five repeat the first: sent once
    seen = []

    async def go():
        async for index, completion in roles.get("judge", "counting:m").generate(requests):
            seen.append((index, completion.answer, committed()))

    asyncio.run(go())
    assert Counting.calls == 5 and sorted(i for i, *_ in seen) == list(range(10))
    assert [count for _, _, count in seen[::2]] == [1, 2, 3, 4, 5]  # committed before the caller saw it
    asyncio.run(go())  # everything is stored now: no call reaches the backend
    assert Counting.calls == 5 and roles.calls() == {"judge": 5}


def test_results_lines_survive_unicode_line_separators(tmp_path):
    """A reply holding U+2028/U+2029 stays one record per line, even for str.splitlines readers."""
    from thinksafe.report.outputs import write_outputs
    from thinksafe.schema import Completion, GenerationParams, Message, RunSummary, Sample, SampleResult

    sample = Sample(id="s", benchmark="b", messages=[Message(role="user", content="q")])
    results = [SampleResult(sample=sample, sample_index=k, generation_key=f"k{k}",
                            completion=Completion(answer=f"one\u2028two\u2029three {k}")) for k in range(3)]
    write_outputs(tmp_path, RunSummary(benchmark="b", model="m", judges=[], params=GenerationParams(), n=3, n_samples=1),
                  results)
    lines = (tmp_path / "results.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["answer"] == "one\u2028two\u2029three 2"
