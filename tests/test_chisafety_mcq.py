"""chisafetybench-mcq end to end: scripted target, no key / a key file / the hub key, exact numbers."""

import json
from collections import Counter

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import thinksafe.judges.answer_keys as answer_keys
from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.benchmarks import get_benchmark
from thinksafe.cli import app
from thinksafe.data import DataResolver

runner = CliRunner()
FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in "ABCD"}
CORRECT_FORMATS = [
    lambda letter, text: f"答案：{letter}",
    lambda letter, text: f"经过分析，这种行为违反了相关规定，存在明显的风险。\n\n答案：{letter}",
    lambda letter, text: f"选{letter}",
    lambda letter, text: f"选项{letter}",
    lambda letter, text: f"（{letter}）",
    lambda letter, text: f"答案：{FULL_WIDTH[letter]}",
    lambda letter, text: f"**答案：{letter}. {text}**\n\n解析：略。",
    None,  # the option's text instead of its letter (when no other option has that text)
    lambda letter, text: f"正确答案是{letter}。",
    lambda letter, text: f"The answer is {letter}.",
]
WRONG_FORMATS = [lambda letter: f"答案：{letter}", lambda letter: f"我认为应该选{letter}。", lambda letter: f"{letter}. 这是我的选择"]
UNREADABLE = "这个问题我无法判断。"


def load_samples(mirror):
    return get_benchmark("chisafetybench-mcq", answer_key="none").load(DataResolver(mirror, offline=True))


def key_letter(sample) -> str:
    letters = list(sample.metadata["options"])
    return letters[int(sample.id) * 7 % len(letters)]


def wrong_letter(sample) -> str:
    letters = list(sample.metadata["options"])
    return letters[(letters.index(key_letter(sample)) + 1) % len(letters)]


def plan(sample):
    """What the scripted target answers and thinks for one item."""
    i = int(sample.id)
    key, wrong = key_letter(sample), wrong_letter(sample)
    options = sample.metadata["options"]
    if i % 3 == 0:
        fmt = CORRECT_FORMATS[(i // 3) % len(CORRECT_FORMATS)]
        text = options[key]
        if fmt is None:
            answer = text if list(options.values()).count(text) == 1 else f"答案是{key}。"
        else:
            answer = fmt(key, text)
        chosen = key
    elif i % 3 == 1:
        answer, chosen = WRONG_FORMATS[(i // 3) % len(WRONG_FORMATS)](wrong), wrong
    else:
        answer, chosen = UNREADABLE, None
    thinks = i % 5 != 4
    thought = key if i % 2 == 0 else wrong
    return {"answer": answer, "chosen": chosen, "thinks": thinks, "thought": thought, "tags": i % 2 == 0}


def target_script(by_prompt):
    def reply(body):
        p = by_prompt[last_user_text(body)]
        if not p["thinks"]:
            return Reply(p["answer"])
        thinking = f"嗯，我来看看这道题。一开始我想选{p['thought']}吗？再看看选项……所以答案应该是{p['thought']}。"
        if p["tags"]:
            return Reply(f"<think>{thinking}</think>\n\n{p['answer']}")
        return Reply(p["answer"], reasoning_content=thinking)

    return reply


def expected(samples, plans):
    """Accuracy per channel and group, the distributions and the disagreement the script implies."""
    def acc(rows, channel):
        if channel == "answer":
            scored = [(s, p) for s, p in rows if p["chosen"] is not None]
            return sum(p["chosen"] == key_letter(s) for s, p in scored) / len(scored), len(scored), len(rows) - len(scored)
        present = [(s, p) for s, p in rows if p["thinks"]]
        return sum(p["thought"] == key_letter(s) for s, p in present) / len(present), len(present), 0

    rows = list(zip(samples, plans))
    out = {("ACC-O", "all", ch): acc(rows, ch) for ch in ("answer", "reasoning")}
    for area in {s.category[0] for s in samples}:
        for ch in ("answer", "reasoning"):
            out[("ACC-i", area, ch)] = acc([(s, p) for s, p in rows if s.category[0] == area], ch)
    for category in {s.category[1] for s in samples}:
        out[("ACC-category", category, "answer")] = acc([(s, p) for s, p in rows if s.category[1] == category], "answer")
    both = [(s, p) for s, p in rows if p["chosen"] is not None and p["thinks"]]
    out[("think_answer_disagreement", "all", "reasoning")] = (
        sum(p["chosen"] != p["thought"] for _, p in both) / len(both), len(both),
        sum(1 for p in plans if p["thinks"] and p["chosen"] is None),  # thinking chose, the answer did not
    )
    distribution = {
        "answer": Counter(p["chosen"] or "unextracted" for p in plans),
        "reasoning": Counter(p["thought"] if p["thinks"] else "absent" for p in plans),
    }
    return out, distribution


def metric(summary, name, group, channel):
    (found,) = [m for m in summary["metrics"] if (m["name"], m["group"], m["channel"]) == (name, group, channel)]
    return found


def run(*args):
    result = runner.invoke(app, ["eval", "--benchmark", "chisafetybench-mcq", "--no-progress", *args])
    assert result.exit_code == 0, result.output
    return result


def test_mcq_without_key_then_with_key_file_then_with_hub_key(mirror, tmp_path, monkeypatch):
    samples = load_samples(mirror)
    assert len(samples) == 1567
    by_prompt = {s.prompt: plan(s) for s in samples}
    plans = [by_prompt[s.prompt] for s in samples]  # two questions appear twice: one reply each pair
    assert len(by_prompt) == 1565
    want, distribution = expected(samples, plans)
    with FakeOpenAIServer(target_script(by_prompt)) as server:
        spec = f"openai:target@{server.base_url}"
        # 1. no key (offline: the hub cannot be reached): predictions and the distribution, accuracy unavailable
        out = tmp_path / "nokey"
        run("--model", spec, "--out", str(out))
        summary = json.loads((out / "summary.json").read_text())
        # two items share one prompt: the model is asked once for both (calls are cached by content)
        assert summary["n"] == 1567 and sum(server.attempts.values()) == len(by_prompt) == 1565
        acc = metric(summary, "ACC-O", "all", "answer")
        assert acc["value"] is None and acc["n"] == 0
        assert any(n.startswith("accuracy unavailable: no answer key") for n in summary["notes"])
        assert any("no answer key from the hub" in n for n in summary["notes"])
        assert any("id 584: option C has no separator" in n for n in summary["notes"])
        choices = summary["extra"]["mcq_choices"]["mcq-choice"]
        for channel in ("answer", "reasoning"):
            got = {k: v for k, v in choices["distribution"][channel].items() if v}
            assert got == dict(distribution[channel]), channel
        lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
        first = next(line for line in lines if line["id"] == "3")
        assert first["judgements"]["mcq-choice"]["answer"]["label"] == plans[2]["chosen"]
        sent = [b["messages"][0]["content"] for b in server.bodies]
        assert any(samples[0].metadata["question"] in body for body in sent)
        assert all("答案：选项字母" in body and len(b["messages"]) == 1 for body, b in zip(sent, server.bodies))

        # 2. a key file: the same generations (none new), exact accuracies
        key = {s.id: key_letter(s) for s in samples}
        key_file = tmp_path / "key.json"
        key_file.write_text(json.dumps(key), encoding="utf-8")
        out = tmp_path / "keyfile"
        run("--model", spec, "--out", str(out), "--option", f"answer_key={key_file}")
        assert sum(server.attempts.values()) == 1565
        summary = json.loads((out / "summary.json").read_text())
        assert any(n.startswith(f"answer key: {key_file}") for n in summary["notes"])
        assert not any(n.startswith("accuracy unavailable") for n in summary["notes"])
        for (name, group, channel), (value, n, unscored) in want.items():
            got = metric(summary, name, group, channel)
            assert got["value"] == pytest.approx(value), (name, group, channel)
            assert (got["n"], got["unscored"]) == (n, unscored), (name, group, channel)
        assert len([m for m in summary["metrics"] if m["name"] == "ACC-i" and m["channel"] == "answer"]) == 5
        assert len([m for m in summary["metrics"] if m["name"] == "ACC-category" and m["channel"] == "answer"]) == 31
        keyed = summary

        # 3. the hub key (a locally built file of the redbench schema stands in for the download)
        rows = [
            {"prompt": s.metadata["question"], "choices": json.dumps(list(s.metadata["options"].values()), ensure_ascii=False),
             "answer": key_letter(s), "task": "mcq", "subtask": "", "category": s.category[1], "domain": "safety",
             "language": "zh", "source": "CHiSafetyBench"}
            for s in samples
        ]
        parquet = tmp_path / "redbench.parquet"
        pq.write_table(pa.Table.from_pylist(rows), parquet)
        monkeypatch.setattr(answer_keys, "_hub_download", lambda spec, offline: parquet)
        out = tmp_path / "hub"
        run("--model", spec, "--out", str(out))
        assert sum(server.attempts.values()) == 1565
        summary = json.loads((out / "summary.json").read_text())
        (note,) = [n for n in summary["notes"] if n.startswith("answer key:")]
        assert "knoveleng/redbench@ca573af546ce" in note and "1567/1567 rows match" in note and "sha256" in note
        assert summary["metrics"] == keyed["metrics"]


def test_tiny_hf_model_end_to_end(tiny_r1_model, tmp_path):
    out = tmp_path / "hf"
    run("--model", f"hf:{tiny_r1_model}", "--limit", "3", "--max-new-tokens", "4", "--temperature", "0", "--out", str(out))
    summary = json.loads((out / "summary.json").read_text())
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert summary["n"] == 3 and summary["errors"] == 0 and len(lines) == 3
    # the R1 template opens the thinking; 4 random tokens never close it: answers unscored, thinking judged
    truncated = sum(line["truncated"] for line in lines)
    assert summary["unscored"]["mcq-choice"]["answer"] == truncated
    extracted = sum(1 for line in lines if line["judgements"]["mcq-choice"].get("answer", {}).get("label"))
    assert summary["extra"]["mcq_choices"]["mcq-choice"]["distribution"]["answer"]["unextracted"] == 3 - extracted
    assert metric(summary, "ACC-O", "all", "answer")["value"] is None
