"""safetybench-zh end to end against the published key: every 3rd item answered right, in many Chinese formats."""

import json
from collections import Counter

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.benchmarks import get_benchmark
from thinksafe.cli import app
from thinksafe.data import DataResolver

runner = CliRunner()
FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "ABCD"}
RIGHT = [
    lambda k, text: f"答案：{k}",
    lambda k, text: f"答案是（{k}）",
    lambda k, text: f"选{k}",
    lambda k, text: f"选项{k}",
    lambda k, text: f"（{k}）",
    lambda k, text: f"答案：{FULL_WIDTH[k]}",
    lambda k, text: f"这段话涉及对他人的评价，需要结合语境判断。综合来看，应选择{k}。",
    None,  # the option's text
    lambda k, text: f"**答案：{k}**\n\n解析：略。",
    lambda k, text: f"{k}. {text}",
]


def mirror_key(mirror):
    """The published key, read here without the project's code: id -> letter."""
    answers = json.loads((mirror / "safetybench" / "test_answers_zh_subset.json").read_text(encoding="utf-8"))
    return {k: "ABCD"[v["answer"]] for k, v in answers.items()}


def plan(index, sample, key):
    options = sample.metadata["options"]
    right = key[sample.id]
    wrong = "ABCD"[("ABCD".index(right) + 1) % len(options)]
    if index % 3 == 0:
        fmt = RIGHT[(index // 3) % len(RIGHT)]
        text = options[right]
        unique = list(options.values()).count(text) == 1
        answer, chosen = (fmt(right, text) if fmt else (text if unique else f"答案：{right}")), right
    elif index % 3 == 1:
        answer, chosen = f"我的答案：{wrong}", wrong
    else:
        answer, chosen = "我需要更多信息才能回答。", None
    thought = right if index % 2 == 0 else wrong
    return {"answer": answer, "chosen": chosen, "thought": thought, "key": right}


def test_accuracy_against_the_published_key(mirror, tmp_path):
    key = mirror_key(mirror)
    samples = get_benchmark("safetybench-zh").load(DataResolver(mirror, offline=True))
    assert len(samples) == 2100 and {s.target for s in samples} == {"A", "B", "C", "D"}
    assert all(s.target == key[s.id] for s in samples)
    by_prompt = {s.prompt: plan(i, s, key) for i, s in enumerate(samples)}
    plans = [by_prompt[s.prompt] for s in samples]

    def reply(body):
        p = by_prompt[last_user_text(body)]
        return Reply(p["answer"], reasoning_content=f"分析一下这道题……最终我选{p['thought']}。")

    with FakeOpenAIServer(reply) as server:
        out = tmp_path / "sb"
        result = runner.invoke(app, ["eval", "--model", f"openai:t@{server.base_url}", "--benchmark", "safetybench-zh",
                                     "--out", str(out), "--no-progress"])
        assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())

    def got(name, group, channel):
        (m,) = [m for m in summary["metrics"] if (m["name"], m["group"], m["channel"]) == (name, group, channel)]
        return m

    rows = list(zip(samples, plans))
    answered = [(s, p) for s, p in rows if p["chosen"] is not None]
    overall = got("ACC-O", "all", "answer")
    assert overall["value"] == pytest.approx(sum(p["chosen"] == p["key"] for _, p in answered) / len(answered))
    assert (overall["n"], overall["unscored"]) == (len(answered), len(rows) - len(answered))
    assert overall["value"] == pytest.approx(0.5) and overall["n"] == 1400  # 700 right, 700 wrong, 700 unreadable
    thinking = got("ACC-O", "all", "reasoning")
    assert thinking["value"] == pytest.approx(0.5) and thinking["n"] == 2100
    for category in {s.category[0] for s in samples}:
        inside = [(s, p) for s, p in answered if s.category[0] == category]
        m = got("ACC-category", category, "answer")
        assert m["value"] == pytest.approx(sum(p["chosen"] == p["key"] for _, p in inside) / len(inside)), category
        assert m["n"] + m["unscored"] == 300
    assert not [m for m in summary["metrics"] if m["name"] == "ACC-i"]
    differ = sum(p["chosen"] != p["thought"] for _, p in answered)
    assert got("think_answer_disagreement", "all", "reasoning")["value"] == pytest.approx(differ / len(answered))
    distribution = summary["extra"]["mcq_choices"]["mcq-choice"]["distribution"]["answer"]
    assert {k: v for k, v in distribution.items() if v} == dict(Counter(p["chosen"] or "unextracted" for p in plans))
    assert any(n.startswith("answer key: https://raw.githubusercontent.com/thu-coai/SafetyBench/") for n in summary["notes"])
