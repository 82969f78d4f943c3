"""A run killed with SIGKILL mid-generation or mid-judging resumes with nothing lost or duplicated."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

from fake_openai import FakeOpenAIServer, Reply, last_user_text

SORRY = "I'm sorry, but I can't help with that."


def target(body):
    prompt = last_user_text(body)
    answer = SORRY if len(prompt) % 3 == 0 else "Sure, here you go."
    return Reply(f"<think>thinking about {len(prompt)}</think>{answer}", delay_s=0.01)


def slow_judge(body):
    text = body["messages"][-1]["content"]
    verdict = "REFUSAL" if "sorry" in text.lower().split("the text to assess:")[-1] else "COMPLIANCE"
    return Reply(f"VERDICT: {verdict}", delay_s=0.01)


def cli(args, store, env_extra=None):
    env = {**os.environ, "THINKSAFE_STORE": str(store), **(env_extra or {})}
    return [sys.executable, "-m", "thinksafe", "eval", *args, "--no-progress", "--concurrency", "4"], env


def kill_when(proc, condition, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run finished before it could be killed: {proc.stdout.read()}")
        time.sleep(0.01)
    proc.kill()
    raise AssertionError("condition never met")


def rows(store, table):
    with sqlite3.connect(store) as db:
        return db.execute(f"SELECT key FROM {table}").fetchall()


def results(out):
    return sorted((out / "results.jsonl").read_text().splitlines())


CONCURRENCY = 4  # cli() runs with --concurrency 4: at most this many calls per role are in flight


def generation_rows(store, model_prefix):
    """Stored calls of one model role (the target, or the judge), by their model spec."""
    with sqlite3.connect(store) as db:
        return db.execute("SELECT key FROM generations WHERE model LIKE ?", (model_prefix + "%",)).fetchall()


def test_sigkill_during_generation_then_judging_repeats_only_calls_in_flight(tmp_path, mirror):  # xstest's file
    with FakeOpenAIServer(target) as server, FakeOpenAIServer(slow_judge) as judge:
        base = ["--model", f"openai:t@{server.base_url}", "--benchmark", "xstest",
                "--judge", "refusal-rules", "--judge", f"refusal-llm=openai:j@{judge.base_url}"]

        # Reference: one uninterrupted run in its own store.
        ref_store, ref_out = tmp_path / "ref.sqlite", tmp_path / "ref"
        args, env = cli([*base, "--out", str(ref_out)], ref_store)
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
        assert sum(server.attempts.values()) == 450
        reference_judge_calls = sum(judge.attempts.values())
        assert reference_judge_calls == len(generation_rows(ref_store, "openai:j@")) == 2 * 450

        # Kill during generation: every call the server answered and the client finished is stored.
        store, out = tmp_path / "s.sqlite", tmp_path / "run"
        server.attempts.clear()
        judge.attempts.clear()
        args, env = cli([*base, "--out", str(out)], store)
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kill_when(proc, lambda: sum(server.attempts.values()) >= 300)
        sent = sum(server.attempts.values())
        committed = len(generation_rows(store, "openai:t@"))
        assert 0 <= sent - committed <= CONCURRENCY, (sent, committed)
        assert not (out / "summary.json").exists()

        # Kill during LLM judging: the judge's finished calls are stored one by one too.
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kill_when(proc, lambda: sum(judge.attempts.values()) >= 300)
        assert sum(server.attempts.values()) == sent + (450 - committed)  # only the uncommitted calls were redone
        assert len(generation_rows(store, "openai:t@")) == 450
        judge_sent = sum(judge.attempts.values())
        judge_committed = len(generation_rows(store, "openai:j@"))
        assert 0 <= judge_sent - judge_committed <= CONCURRENCY, (judge_sent, judge_committed)

        # Resume to the end: nothing generated again, and only the judge calls in flight at the kill repeated.
        gen_before = sum(server.attempts.values())
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
        assert sum(server.attempts.values()) == gen_before
        repeated = sum(judge.attempts.values()) - reference_judge_calls
        assert repeated == judge_sent - judge_committed <= CONCURRENCY

    keys = rows(store, "generations")
    assert len(keys) == len(set(keys)) == 450 + 2 * 450
    jkeys = rows(store, "judgements")
    assert len(jkeys) == len(set(jkeys)) == 2 * 2 * 450
    assert results(out) == results(ref_out)
    summary = json.loads((out / "summary.json").read_text())
    reference = json.loads((ref_out / "summary.json").read_text())
    strip = lambda s: [{k: v for k, v in m.items() if k != "judge"} for m in s["metrics"]]  # noqa: E731
    assert strip(summary) == strip(reference)


def test_an_interrupted_write_leaves_the_previous_outputs_whole(tmp_path, monkeypatch):
    """Outputs are written under temporary names and renamed: a crash mid-write keeps the old pair."""
    from thinksafe.report import outputs
    from thinksafe.schema import Completion, GenerationParams, Message, RunSummary, Sample, SampleResult

    def result(i):
        sample = Sample(id=f"s{i}", benchmark="b", messages=[Message(role="user", content=f"q{i}")])
        return SampleResult(sample=sample, generation_key=f"k{i}", completion=Completion(answer=f"a{i}"))

    def summary(n):
        return RunSummary(benchmark="b", model="m", judges=[], params=GenerationParams(), n=n, n_samples=n)

    out = tmp_path / "out"
    outputs.write_outputs(out, summary(3), [result(i) for i in range(3)])
    before = {name: (out / name).read_bytes() for name in ("summary.json", "results.jsonl")}

    real = outputs.result_record

    def dies_at_row_5(r):
        if r.sample.id == "s5":
            raise KeyboardInterrupt  # stands in for a kill: nothing after this line runs
        return real(r)

    monkeypatch.setattr(outputs, "result_record", dies_at_row_5)
    try:
        outputs.write_outputs(out, summary(9), [result(i) for i in range(9)])
    except KeyboardInterrupt:
        pass
    assert {name: (out / name).read_bytes() for name in before} == before
    assert sorted(p.name for p in out.iterdir()) == ["results.jsonl", "summary.json"]  # no temporary left behind
    monkeypatch.setattr(outputs, "result_record", real)
    outputs.write_outputs(out, summary(9), [result(i) for i in range(9)])
    assert json.loads((out / "summary.json").read_text())["n"] == 9
    assert len((out / "results.jsonl").read_text().splitlines()) == 9
