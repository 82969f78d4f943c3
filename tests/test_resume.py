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


def test_sigkill_during_generation_then_judging_resumes_exactly(tmp_path):
    with FakeOpenAIServer(target) as server, FakeOpenAIServer(slow_judge) as judge:
        base = ["--model", f"openai:t@{server.base_url}", "--benchmark", "xstest",
                "--judge", "refusal-rules", "--judge", f"refusal-llm=openai:j@{judge.base_url}"]

        # Reference: one uninterrupted run in its own store.
        ref_store, ref_out = tmp_path / "ref.sqlite", tmp_path / "ref"
        args, env = cli([*base, "--out", str(ref_out)], ref_store)
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
        reference_calls = sum(server.attempts.values())
        assert reference_calls == 450

        # Kill during generation.
        store, out = tmp_path / "s.sqlite", tmp_path / "run"
        server.attempts.clear()
        args, env = cli([*base, "--out", str(out)], store)
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kill_when(proc, lambda: sum(server.attempts.values()) >= 300)
        committed = len(rows(store, "generations")) if store.exists() else 0
        assert committed < 450 and not (out / "summary.json").exists()
        assert len(rows(store, "judgements")) == 0

        # Kill during judging: generation finishes, the LLM judge is interrupted.
        before = sum(server.attempts.values())
        judge.attempts.clear()
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        kill_when(proc, lambda: sum(judge.attempts.values()) >= 300)
        assert sum(server.attempts.values()) - before == 450 - committed  # only the uncommitted work was redone
        assert len(rows(store, "generations")) == 450
        judged = len(rows(store, "judgements"))

        # Resume to the end.
        judge_before, gen_before = sum(judge.attempts.values()), sum(server.attempts.values())
        subprocess.run(args, env=env, check=True, capture_output=True, timeout=300)
        assert sum(server.attempts.values()) == gen_before  # nothing generated again
        rules_judgements = 2 * 450 - 0  # refusal-rules judges both channels of all 450 (no truncation here)
        llm_items = 2 * 450
        llm_done_before = judged - min(judged, rules_judgements)
        assert sum(judge.attempts.values()) - judge_before == llm_items - llm_done_before

    keys = rows(store, "generations")
    assert len(keys) == len(set(keys)) == 450
    jkeys = rows(store, "judgements")
    assert len(jkeys) == len(set(jkeys)) == 2 * 2 * 450
    assert results(out) == results(ref_out)
    summary = json.loads((out / "summary.json").read_text())
    reference = json.loads((ref_out / "summary.json").read_text())
    strip = lambda s: [{k: v for k, v in m.items() if k != "judge"} for m in s["metrics"]]  # noqa: E731
    assert strip(summary) == strip(reference)
