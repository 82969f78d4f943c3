"""math-answer judge (extraction rules, math-verify equality) and the reasoning benchmarks end to end."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.benchmarks.base import get_benchmark
from thinksafe.benchmarks.math_reasoning import INSTRUCTION_EN, INSTRUCTION_ZH
from thinksafe.cli import app
from thinksafe.data import DataResolver, RowError
from thinksafe.judges.base import JudgeInput
from thinksafe.judges.math_answer import MathAnswer, choice_letters, extract_answer, extract_choice, math_equal
from thinksafe.schema import Completion, Message, Sample

runner = CliRunner()


@pytest.mark.parametrize(
    ("text", "found", "method"),
    [
        ("so x = 3 and \\boxed{\\frac{1}{2}} is it", "\\frac{1}{2}", "boxed"),
        ("first \\boxed{1} then \\boxed{{2}+1}", "{2}+1", "boxed"),
        ("Total 5 + 13 = 18\n#### 18", "18", "####"),
        ("The answer is 42.", "42", "phrase"),
        ("Final answer: 7", "7", "phrase"),
        ("答案是：12。", "12", "phrase"),
        ("所以最终答案为 3/4", "3/4", "phrase"),
        ("答：还剩9页。", "9", "phrase"),
        ("因此小明一共有 15 个苹果。", "15", "phrase"),
        ("I tried 5, then 6", "6", "last_number"),
    ],
)
def test_extraction_rules(text, found, method):
    got = extract_answer(text)
    assert got is not None and (got.text, got.method) == (found, method)


def test_no_answer_when_nothing_answer_like():
    assert extract_answer("I cannot tell.") is None


@pytest.mark.parametrize(
    ("reference", "answer", "equal"),
    [
        ("18", "18.0", True), ("1000", "1,000", True), ("\\frac{14}{3}", "14/3", True),
        ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, \\pi/2)", True), ("90^\\circ", "90", True),
        ("\\$18.90", "18.9", True), ("025", "25", True), ("\\sqrt{2}/2", "1/\\sqrt{2}", True),
        ("18", "19", False), ("\\frac{1}{2}", "0.6", False),
    ],
)
def test_math_verify_equality(reference, answer, equal):
    assert math_equal(reference, answer) is equal


def test_choice_extraction():
    assert choice_letters(extract_choice("所以答案是C。").text) == {"C"}
    assert choice_letters(extract_choice("\\boxed{AD}").text) == {"A", "D"}
    assert choice_letters(extract_choice("The answer is (B).").text) == {"B"}


def judge(sample: Sample, text: str):
    item = JudgeInput(sample=sample, completion=Completion(answer=text), channel="answer", text=text)
    return asyncio.run(MathAnswer().judge_batch([item]))[0]


def test_judge_labels_and_unscored():
    sample = Sample(id="x", benchmark="t", messages=[Message(role="user", content="q")], target="18")
    assert judge(sample, "\\boxed{18}").label == "correct"
    assert judge(sample, "\\boxed{17}").label == "incorrect"
    assert judge(sample, "no idea").label == "no_answer"
    assert judge(sample, "   ").label is None
    no_reference = sample.model_copy(update={"target": None})
    assert "no reference" in judge(no_reference, "\\boxed{18}").unscored_reason
    mcq = sample.model_copy(update={"target": "AD", "metadata": {"answer_type": "choice"}})
    assert judge(mcq, "答案是A、D").label == "correct" and judge(mcq, "答案是A").label == "incorrect"


def test_benchmarks_load_the_mirror_with_every_reference_checkable(mirror):
    sizes = {"gsm8k": 1319, "math500": 500, "aime24": 30, "cmath": 600}
    data = DataResolver(mirror)
    for name, size in sizes.items():
        samples = get_benchmark(name).load(data)
        assert len(samples) == size and len({s.id for s in samples}) == size
        assert samples[0].prompt.endswith(INSTRUCTION_ZH if name == "cmath" else INSTRUCTION_EN)
        checked = samples if name in {"aime24", "math500"} else samples[:50]
        assert all(math_equal(s.target, s.target) for s in checked), name
    assert get_benchmark("gsm8k").load(data)[0].target == "18"
    assert {s.category[0] for s in get_benchmark("cmath").load(data)} == {f"grade{g}" for g in range(1, 7)}


def test_malformed_row_names_file_and_row(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text('{"question": "q", "answer": "x #### 1"}\n{"question": "q2"}\n')
    bench = get_benchmark("gsm8k")
    resolver = DataResolver(tmp_path)
    bench.file = bench.file.model_copy(update={"sha256": None})
    with pytest.raises(RowError, match="row 2"):
        bench.load(resolver)


def gsm8k_answers(mirror) -> dict[str, str]:
    rows = [json.loads(line) for line in (mirror / "gsm8k" / "test.jsonl").read_text().splitlines()]
    return {r["question"]: r["answer"].rsplit("####", 1)[1].strip().replace(",", "") for r in rows}


def plan(line: int) -> int:
    return line % 6


def gsm8k_script(answers: dict[str, str], lines: dict[str, int]):
    """Case by file line: 0 boxed right, 1 '####' right, 2 boxed wrong, 3 truncated, 4 no answer, 5 phrase right."""
    def reply(body):
        question = last_user_text(body).split("\n\nPlease reason")[0]
        gold, case = answers[question], plan(lines[question])
        thinking = f"The result is {gold}." if case == 5 else "Let me think."
        if case == 3:
            return Reply(f"<think>I compute {gold} and", finish_reason="length")
        answer = {
            0: f"So \\boxed{{{gold}}}.", 1: f"Work.\n#### {gold}", 2: f"\\boxed{{{int(gold) + 1}}}",
            4: "I am not sure.", 5: f"So the answer is {gold} dollars.",
        }[case]
        return Reply(f"<think>{thinking}</think>{answer}")

    return reply


def test_gsm8k_end_to_end_accuracy_matches_the_script(mirror, tmp_path):
    answers = gsm8k_answers(mirror)
    lines = {q: i + 1 for i, q in enumerate(answers)}
    with FakeOpenAIServer(gsm8k_script(answers, lines)) as server:
        out = tmp_path / "g"
        result = runner.invoke(app, ["eval", "--model", f"openai:m@{server.base_url}", "--benchmark", "gsm8k", "--limit", "36",
                                     "--out", str(out), "--no-progress"])
        assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    cases = [plan(int(r["id"].split("-")[1])) for r in rows]
    assert len(rows) == 36
    metric = {m["channel"]: m for m in summary["metrics"] if m["name"] == "accuracy" and m["group"] == "all"}
    assert metric["answer"]["value"] == pytest.approx(sum(c in {0, 1, 5} for c in cases) / 36)
    assert metric["answer"]["n"] == 36 and metric["answer"]["unscored"] == 0  # truncated counts as incorrect
    assert metric["reasoning"]["value"] == pytest.approx(sum(c in {3, 5} for c in cases) / 36)
    labels = {plan(int(r["id"].split("-")[1])): r["judgements"]["math-answer"]["answer"].get("label") for r in rows}
    assert labels[4] == "no_answer" and labels[2] == "incorrect" and labels[3] is None


def test_cmath_chinese_phrases_per_grade(mirror, tmp_path):
    rows = [json.loads(line) for line in (mirror / "cmath" / "test.jsonl").read_text().splitlines()]
    gold = {r["question"]: r["answer"] for r in rows}

    def reply(body):
        question = last_user_text(body).split("\n\n请一步一步")[0]
        return Reply(f"<think>先算一下。</think>答：结果是{gold[question]}。")

    with FakeOpenAIServer(reply) as server:
        out = tmp_path / "c"
        result = runner.invoke(app, ["eval", "--model", f"openai:m@{server.base_url}", "--benchmark", "cmath", "--limit", "12",
                                     "--out", str(out), "--no-progress"])
        assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    answer = [m for m in summary["metrics"] if m["name"] == "accuracy" and m["channel"] == "answer"]
    assert {m["group"]: (m["value"], m["n"]) for m in answer} == {"all": (1.0, 12), **{f"grade{g}": (1.0, 2) for g in range(1, 7)}}
