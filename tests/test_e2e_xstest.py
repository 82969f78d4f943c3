"""End-to-end CLI runs on both backends; summary numbers checked against what the scripts imply."""

import csv
import json
import re

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.cli import app

runner = CliRunner()
SORRY = "I'm sorry, but I can't help with that."
THINK_REFUSE = "This request is harmful, so I should not help with it."
THINK_HELP = "Let me work out the answer step by step."


def xstest_rows(mirror):
    with (mirror / "xstest" / "xstest_prompts.csv").open(encoding="utf-8") as handle:
        return {row["prompt"]: row for row in csv.DictReader(handle)}


def plan(row):
    """What the scripted target does for one XSTest row."""
    i = int(row["id"])
    unsafe = row["label"] == "unsafe"
    return {
        "shape": i % 4,  # 0 tags, 1 template-opened, 2 reasoning_content, 3 no thinking
        "truncated": i % 50 == 7,
        "answer_refuses": unsafe or i % 5 == 0,
        "thinking_refuses": unsafe,
    }


def target_script(rows):
    def reply(body):
        p = plan(rows[last_user_text(body)])
        thinking = THINK_REFUSE if p["thinking_refuses"] else THINK_HELP
        answer = SORRY if p["answer_refuses"] else "Sure: here is a helpful answer."
        if p["truncated"]:
            return Reply(f"<think>{thinking} and more", finish_reason="length")
        if p["shape"] == 0:
            return Reply(f"<think>{thinking}</think>\n\n{answer}")
        if p["shape"] == 1:
            return Reply(f"{thinking}\n</think>\n\n{answer}")
        if p["shape"] == 2:
            return Reply(answer, reasoning_content=thinking)
        return Reply(answer)

    return reply


def expected(rows):
    plans = [(row, plan(row)) for row in rows.values()]
    safe = [(r, p) for r, p in plans if r["label"] == "safe"]
    unsafe = [(r, p) for r, p in plans if r["label"] == "unsafe"]
    answered = lambda group: [p for _, p in group if not p["truncated"]]  # noqa: E731
    thinking = lambda group: [p for _, p in group if p["truncated"] or p["shape"] != 3]  # noqa: E731
    return {
        ("over_refusal_rate", "answer"): sum(p["answer_refuses"] for p in answered(safe)) / len(answered(safe)),
        ("unsafe_compliance_rate", "answer"): sum(not p["answer_refuses"] for p in answered(unsafe)) / len(answered(unsafe)),
        ("over_refusal_rate", "reasoning"): sum(p["thinking_refuses"] for p in thinking(safe)) / len(thinking(safe)),
        ("unsafe_compliance_rate", "reasoning"): sum(not p["thinking_refuses"] for p in thinking(unsafe)) / len(thinking(unsafe)),
        "truncated": sum(p["truncated"] for _, p in plans),
        "thinking": sum(p["truncated"] or p["shape"] != 3 for _, p in plans),
    }


def headline(summary, judge, name, channel):
    (metric,) = [
        m for m in summary["metrics"] if m["judge"] == judge and m["name"] == name and m["channel"] == channel and m["group"] == "all"
    ]
    return metric


def run_cli(*args):
    result = runner.invoke(app, ["eval", *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    return result


def test_openai_backend_end_to_end_with_rules_and_cache(mirror, tmp_path):
    rows = xstest_rows(mirror)
    want = expected(rows)
    with FakeOpenAIServer(target_script(rows)) as server:
        out = tmp_path / "run1"
        run_cli("--model", f"openai:target@{server.base_url}", "--benchmark", "xstest", "--out", str(out))
        summary = json.loads((out / "summary.json").read_text())
        assert summary["n"] == 450 and summary["n_samples"] == 450 and summary["errors"] == 0
        assert summary["truncated"] == want["truncated"]
        assert summary["reasoning_present"] == want["thinking"]
        assert summary["unscored"]["refusal-rules"]["answer"] == want["truncated"]
        for (name, channel), value in ((k, v) for k, v in want.items() if isinstance(k, tuple)):
            metric = headline(summary, "refusal-rules", name, channel)
            assert metric["value"] == pytest.approx(value), (name, channel)
            assert metric["ci_low"] <= metric["value"] <= metric["ci_high"]
            assert metric["higher_is_better"] is False and metric["range"] == [0.0, 1.0]
        per_type = [m for m in summary["metrics"] if m["group"] == "homonyms" and m["channel"] == "answer"]
        assert per_type and per_type[0]["n"] + per_type[0]["unscored"] == 25

        lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        assert len(lines) == 450
        first = lines[0]
        assert set(first) >= {"id", "category", "prompt", "reasoning", "answer", "finish_reason", "judgements"}
        truncated_line = next(line for line in lines if line["truncated"])
        assert truncated_line["judgements"]["refusal-rules"]["answer"]["unscored_reason"]
        # the browsable report is written beside the summary, with every generation in its failure browser
        page = (out / "report.html").read_text(encoding="utf-8")
        assert "xstest" in page and page.count('"id":') >= 450

        calls = sum(server.attempts.values())
        assert calls == 450
        # Same command again: nothing new is generated, same numbers.
        out2 = tmp_path / "run2"
        run_cli("--model", f"openai:target@{server.base_url}", "--benchmark", "xstest", "--out", str(out2))
        assert sum(server.attempts.values()) == calls
        assert json.loads((out2 / "summary.json").read_text())["metrics"] == summary["metrics"]


RESPONSE_FENCE = re.compile(r"<response-([0-9a-f]{12})>\n(.*)\n</response-\1>", re.S)


def judge_script(body):
    prompt = body["messages"][-1]["content"]
    judged = RESPONSE_FENCE.search(prompt).group(2)
    if "helpful answer" in judged and "garble" in judged:
        return Reply("I am not sure.")
    verdict = "REFUSAL" if ("sorry" in judged.lower() or "should not" in judged) else "COMPLIANCE"
    return Reply(f"<think>checking</think>The text {'declines' if verdict == 'REFUSAL' else 'helps'}.\nVERDICT: {verdict}")


def test_llm_judge_over_cached_generations_generates_nothing(mirror, tmp_path):
    rows = xstest_rows(mirror)
    with FakeOpenAIServer(target_script(rows)) as target, FakeOpenAIServer(judge_script) as judge:
        spec = f"openai:target@{target.base_url}"
        run_cli("--model", spec, "--benchmark", "xstest", "--limit", "40", "--out", str(tmp_path / "a"))
        calls = sum(target.attempts.values())
        assert calls == 40
        out = tmp_path / "b"
        run_cli(
            "--model", spec, "--benchmark", "xstest", "--limit", "40", "--out", str(out),
            "--judge", "refusal-rules", "--judge", "refusal-llm", "--judge-model", f"openai:judge@{judge.base_url}",
        )
        assert sum(target.attempts.values()) == calls  # a new judge generated nothing
        summary = json.loads((out / "summary.json").read_text())
        judge_name = f"refusal-llm=openai:judge@{judge.base_url}"
        assert summary["judges"] == ["refusal-rules", judge_name]
        for name in ("over_refusal_rate", "unsafe_compliance_rate"):
            for channel in ("answer", "reasoning"):
                rules = headline(summary, "refusal-rules", name, channel)
                llm = headline(summary, judge_name, name, channel)
                assert llm["value"] == pytest.approx(rules["value"]) and llm["n"] == rules["n"]


def test_unparseable_judge_reply_is_unscored_with_raw_kept(tmp_path, mirror):
    rows = xstest_rows(mirror)
    garble = lambda body: Reply("<think>x</think>Sure: here is a helpful answer. garble")  # noqa: E731
    with FakeOpenAIServer(garble) as target, FakeOpenAIServer(judge_script) as judge:
        out = tmp_path / "g"
        run_cli(
            "--model", f"openai:target@{target.base_url}", "--benchmark", "xstest", "--limit", "6", "--out", str(out),
            "--judge", f"refusal-llm=openai:judge@{judge.base_url}",
        )
    summary = json.loads((out / "summary.json").read_text())
    (judge_name,) = summary["judges"]
    assert summary["unscored"][judge_name] == {"answer": 6, "reasoning": 0}
    line = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    verdict = line["judgements"][judge_name]["answer"]
    assert verdict["label"] is None and verdict["raw"] == "I am not sure." and "unparseable" in verdict["unscored_reason"]
    assert all(m["value"] is None for m in summary["metrics"] if m["channel"] == "answer")
    assert rows  # the mirror was read


def test_generation_errors_are_stored_and_retried_next_run(tmp_path):
    from fake_openai import Fault

    state = {"fail": True}
    with FakeOpenAIServer(lambda body: Reply("Sure.")) as server:
        server.faults = {"": [Fault("500")] * 1000}  # everything fails at first
        spec = f"openai:target@{server.base_url}"
        out = tmp_path / "e"
        result = runner.invoke(app, ["eval", "--model", spec, "--benchmark", "xstest", "--limit", "5", "--out", str(out), "--no-progress",
                                     "--max-retries", "1"])
        assert result.exit_code == 1, result.output  # items ended in an error: never a silent success
        summary = json.loads((out / "summary.json").read_text())
        assert summary["errors"] == 5 and summary["unscored"]["refusal-rules"]["answer"] == 5
        assert summary["error_counts"] == {"APIStatusError: HTTP 500: internal error": 5}
        server.faults = {}
        state["fail"] = False
        run_cli("--model", spec, "--benchmark", "xstest", "--limit", "5", "--out", str(out))
        summary = json.loads((out / "summary.json").read_text())
        assert summary["errors"] == 0 and summary["unscored"]["refusal-rules"]["answer"] == 0


def test_hf_backend_end_to_end_with_r1_template(tiny_r1_model, tmp_path):
    out = tmp_path / "hf"
    args = ["--model", f"hf:{tiny_r1_model}", "--benchmark", "xstest", "--limit", "8", "--max-new-tokens", "6",
            "--temperature", "0", "--out", str(out)]
    run_cli(*args)
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert summary["n"] == 8 and summary["errors"] == 0
    # The R1 template opens <think>; a random model never closes it within 6 tokens.
    truncated = sum(line["truncated"] for line in lines)
    assert summary["truncated"] == truncated
    assert summary["unscored"]["refusal-rules"]["answer"] == truncated
    assert all(line["finish_reason"] in {"stop", "length"} for line in lines)
    # greedy and cached: a second run gives identical results without loading the model
    out2 = tmp_path / "hf2"
    run_cli(*args[:-1], str(out2))
    assert (out2 / "results.jsonl").read_text() == (out / "results.jsonl").read_text()


def test_hf_model_without_thinking_has_absent_reasoning_channel(tiny_plain_model, tmp_path):
    out = tmp_path / "plain"
    run_cli("--model", f"hf:{tiny_plain_model}", "--benchmark", "xstest", "--limit", "4", "--max-new-tokens", "4",
            "--temperature", "0", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reasoning_present"] == 0 and summary["truncated"] == 0
    assert summary["unscored"]["refusal-rules"]["reasoning"] == 0
    assert all(m["n"] == 0 and m["unscored"] == 0 for m in summary["metrics"] if m["channel"] == "reasoning")
