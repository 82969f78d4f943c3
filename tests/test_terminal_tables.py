"""Terminal tables keep judge and metric names whole at 80 and 100 columns; summary.json records
its provenance; empty metric groups are not emitted and unscored counts agree."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from rich.console import Console
from typer.testing import CliRunner

import thinksafe.cli as cli
from fake_openai import Fault, FakeOpenAIServer, Reply, last_user_text
from thinksafe.cli import app
from thinksafe.data import sha256_of
from thinksafe.schema import GenerationParams, Metric, RunSummary, SuiteRow, SuiteSummary

runner = CliRunner()
SORRY = "I'm sorry, but I can't help with that."
LONG_JUDGES = [
    "refusal-llm=openai:judge-model-with-a-long-name@http://127.0.0.1:8000/v1",
    "harmbench=openai:cais/HarmBench-Llama-2-13b-cls@http://judge.example.org:8080/v1",
    "refusal-rules",
]
METRICS = ["over_refusal_rate", "unsafe_compliance_rate", "attack_success_rate", "harmful_reasoning_rate"]


def metric(name, judge, channel, value=0.491, low=0.43, high=0.555, n=450, unscored=3, higher=False):
    return Metric(name=name, judge=judge, channel=channel, value=value, ci_low=low, ci_high=high, n=n, unscored=unscored,
                  higher_is_better=higher)


def run_summary():
    metrics = []
    for judge in LONG_JUDGES:
        for i, name in enumerate(METRICS):
            for channel in ("answer", "reasoning"):
                metrics.append(metric(name, judge, channel, low=0.3 if i == 1 else 0.43, higher=i == 2))
    return RunSummary(benchmark="xstest", model="openai:deepseek-r1-distill-qwen-7b@http://127.0.0.1:9/v1",
                      judges=LONG_JUDGES, params=GenerationParams(), n=450, n_samples=450, metrics=metrics,
                      notes=["a note about the data"])


def suite_summary():
    rows = []
    for bench in ("xstest", "strongreject", "wildjailbreak"):
        for judge in LONG_JUDGES[:2]:
            name = METRICS[1]
            rows.append(SuiteRow(benchmark=bench, judge=judge, metric=name, higher_is_better=False,
                                 answer=metric(name, judge, "answer", n=440, unscored=10),
                                 reasoning=metric(name, judge, "reasoning", n=300, unscored=7)))
    return SuiteSummary(suite="r1-risk", model="openai:deepseek-r1-distill-qwen-7b@http://127.0.0.1:9/v1",
                        members=["xstest", "strongreject", "wildjailbreak"], rows=rows,
                        notes={"strongreject": ["12 rows had no category"], "wildjailbreak": ["sampled 2000 of 2210"]},
                        counts={"xstest": {"n": 450, "n_samples": 450, "errors": 0, "truncated": 2}})


def printed(monkeypatch, width, printer, value):
    target = Console(width=width, force_terminal=False, record=True)
    monkeypatch.setattr(cli, "console", target)
    printer(value)
    return target.export_text()


def assert_names_whole(text, names, judges):
    lines = text.splitlines()
    assert "…" not in text
    for name in names:
        assert any(name in line for line in lines), (name, text)
    for judge in judges:
        assert any(judge in line for line in lines), (judge, text)  # whole, in a cell or in the legend


@pytest.mark.parametrize("width", [80, 100])
def test_summary_table_keeps_names_whole(monkeypatch, width):
    text = printed(monkeypatch, width, cli.print_summary, run_summary())
    assert_names_whole(text, METRICS, LONG_JUDGES)
    assert "J1 = " + LONG_JUDGES[0] in text and "J2 = " + LONG_JUDGES[1] in text
    assert "0.491 ±0.06" in text  # symmetric interval: half-width
    assert "0.491 [0.300, 0.555]" in " ".join(text.split()) or "[0.300," in text  # lopsided: both ends
    assert "↑" in text and "↓" in text and "note: a note about the data" in text
    assert all(len(line.rstrip()) <= width for line in text.splitlines() if not line.startswith(("J", "note", "↑", "items")))


@pytest.mark.parametrize("width", [80, 100])
def test_suite_table_keeps_names_whole_and_shows_counts_and_notes(monkeypatch, width):
    text = printed(monkeypatch, width, cli.print_suite, suite_summary())
    assert_names_whole(text, [METRICS[1], "xstest", "strongreject", "wildjailbreak"], LONG_JUDGES[:2])
    assert "440/300" in text and "10/7" in text  # n and unscored per channel
    assert "note: strongreject: 12 rows had no category" in text and "note: wildjailbreak: sampled 2000 of 2210" in text
    assert "xstest: items 450, generations 450, errors 0, truncated thinking 2" in text


def test_fmt_is_compact():
    assert cli._fmt(0.49, 0.43, 0.55) == "0.490 ±0.060"
    assert cli._fmt(0.05, 0.0, 0.2) == "0.050 [0.000, 0.200]"
    assert cli._fmt(None, None, None) == "n/a"


def test_suite_summary_has_member_notes_params_and_counts():
    suite = SuiteSummary(suite="s", model="m", members=["a"])
    assert suite.notes == {} and suite.counts == {} and suite.params is None
    assert set(SuiteSummary.model_fields) >= {"notes", "counts", "params"}


def script(body):
    prompt = last_user_text(body)
    if len(prompt) % 7 == 0:
        return Reply("<think>I keep thinking and", finish_reason="length")
    return Reply(f"<think>This is harmful.</think>\n\n{SORRY}" if len(prompt) % 2 else "<think>ok</think>Sure: here it is.")


def test_summary_json_records_version_time_and_data_files(mirror, tmp_path):
    out = tmp_path / "o"
    with FakeOpenAIServer(script) as server:
        result = runner.invoke(app, ["eval", "--model", f"openai:m@{server.base_url}", "--benchmark", "xstest", "--limit", "4",
                                     "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["thinksafe_version"]
    created = datetime.fromisoformat(summary["created"])
    assert created.utcoffset() is not None and created.utcoffset().total_seconds() == 0
    (record,) = [f for f in summary["data_files"] if f["name"] == "xstest_prompts.csv"]
    assert record["url"].startswith("http") and record["path"]
    assert record["sha256"] == sha256_of(mirror / "xstest" / "xstest_prompts.csv")


def test_empty_groups_are_dropped_and_unscored_counts_agree(mirror, tmp_path):
    out = tmp_path / "o"
    with FakeOpenAIServer(script) as server:
        server.faults = {"kill": [Fault("500")] * 1000}  # every prompt with "kill" in it ends in an error
        result = runner.invoke(app, ["eval", "--model", f"openai:m@{server.base_url}", "--benchmark", "xstest", "--limit", "60",
                                     "--out", str(out), "--no-progress", "--max-retries", "0", "--allow-errors"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["errors"] > 0 and summary["truncated"] > 0
    assert not [m for m in summary["metrics"] if m["group"] != "all" and m["n"] == 0 and m["unscored"] == 0]
    assert {m["group"] for m in summary["metrics"]} - {"all"}  # non-empty groups are still there
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    for judge, by_channel in summary["unscored"].items():
        for channel, count in by_channel.items():
            judged = sum(1 for r in results if channel in r["judgements"].get(judge, {}))
            headline = [m for m in summary["metrics"] if m["judge"] == judge and m["channel"] == channel and m["group"] == "all"]
            for m in headline:  # a metric over every judged item must count the same unscored items
                if m["n"] + m["unscored"] == judged:
                    assert m["unscored"] == count, (judge, channel, m["name"])
            # XSTest's two headline rates split the items (safe / unsafe prompts): together they cover all
            assert sum(m["unscored"] for m in headline) == count, (judge, channel)
            assert sum(m["n"] + m["unscored"] for m in headline) == judged, (judge, channel)
