"""The r1-risk suite in one command, and XSTest with the three-way judge."""

import json

import pytest
from typer.testing import CliRunner

from fake_openai import FakeOpenAIServer
from r1_fakes import judge_script, metric, plans_of, run_eval, summary, target_script
from thinksafe.benchmarks.base import suite_names
from thinksafe.cli import app

HEADLINES = {
    "airbench-2024": ("refusal_rate", True),
    "cse-mitre": ("benign_percentage", True),
    "cse-mitre-frr": ("false_refusal_rate", False),
    "cse-interpreter": ("safety_rate", True),
    "cse-phishing": ("refusal_rate", True),
    "cse-prompt-injection": ("injection_success_rate", False),
    "xstest-3way": ("unsafe_compliance_rate", False),
    "wildjailbreak": ("attack_success_rate", False),
}


def test_r1_risk_suite_writes_every_member_and_a_combined_table(tmp_path):
    out = tmp_path / "suite"
    assert set(suite_names()["r1-risk"].members) == set(HEADLINES)
    with FakeOpenAIServer(target_script) as target, FakeOpenAIServer(judge_script) as judge:
        result = CliRunner().invoke(app, [
            "eval", "--model", f"openai:t@{target.base_url}", "--benchmark", "r1-risk", "--limit", "6",
            "--judge-model", f"openai:j@{judge.base_url}", "--option", "turns=1", "--out", str(out), "--no-progress",
        ])
        assert result.exit_code == 0, result.output
        victim_calls = sum(1 for b in judge.bodies if b["messages"][0]["content"].startswith("Play the person"))
    assert victim_calls == 6 * 2  # the judge model plays the victim by default: 6 dialogues, 2 exchanges each
    combined = json.loads((out / "summary.json").read_text())
    assert combined["suite"] == "r1-risk" and combined["members"] == list(suite_names()["r1-risk"].members)
    rows = {row["benchmark"]: row for row in combined["rows"]}
    assert set(rows) == set(HEADLINES)
    for member, (name, higher) in HEADLINES.items():
        member_summary = summary(out / member)
        assert member_summary["n_samples"] == 6, member
        row = rows[member]
        assert (row["metric"], row["higher_is_better"]) == (name, higher), member
        for channel in ("answer", "reasoning"):
            assert row[channel] is not None, (member, channel)
            want = metric(member_summary, name, channel, judge=row["judge"])
            assert row[channel]["value"] == pytest.approx(want["value"]) and row[channel]["ci_low"] <= want["value"] <= row[channel]["ci_high"]
    assert "r1-risk" in result.output


def test_xstest_three_way_shares_on_safe_and_unsafe_prompts(mirror, tmp_path):
    out = tmp_path / "x3"
    with FakeOpenAIServer(target_script) as target, FakeOpenAIServer(judge_script) as judge:
        summ, lines = run_eval("xstest-3way", out, target, judge, "--limit", "60")
    plans = list(plans_of("xstest-3way", lines, mirror).values())
    labels = {0: "full_refusal", 1: "partial_refusal", 2: "full_compliance"}
    for side in ("safe", "unsafe"):
        group = [p for s, p in plans if s.category[0] == side]
        for outcome, label in labels.items():
            share = sum(p["answer"] == outcome for p in group) / len(group)
            assert metric(summ, f"{side}_{label}_share", "answer")["value"] == pytest.approx(share), (side, label)
    unsafe = [p for s, p in plans if s.category[0] == "unsafe"]
    safe = [p for s, p in plans if s.category[0] == "safe"]
    # the binary XSTest rates: partial refusal counts as refusal
    assert metric(summ, "unsafe_compliance_rate", "answer")["value"] == pytest.approx(sum(p["answer"] == 2 for p in unsafe) / len(unsafe))
    assert metric(summ, "over_refusal_rate", "answer")["value"] == pytest.approx(sum(p["answer"] != 2 for p in safe) / len(safe))
    # per type, on its own side only
    t = next(s.category[1] for s, _ in plans if s.category[0] == "unsafe")
    members = [p for s, p in plans if s.category[1] == t]
    assert metric(summ, "unsafe_full_compliance_share", "answer", t)["value"] == pytest.approx(sum(p["answer"] == 2 for p in members) / len(members))
    assert not [m for m in summ["metrics"] if m["name"].startswith("safe_") and m["group"] == t]
    table = next(iter(summ["extra"]["thinking_vs_answer"].values()))
    assert table["n"] == sum(p["thinking"] is not None for p in unsafe)  # safe prompts have no unsafe side


def test_a_suite_loads_its_model_once_and_tells_members_of_the_judge_model(mirror, tmp_path, monkeypatch):
    """Python API: one load for all members (not one per member), and --judge-model reaches each member."""
    import asyncio

    import thinksafe.models.base as models_base
    from thinksafe.pipeline import evaluate_suite_async

    loads = []
    real_load = models_base.load_model
    monkeypatch.setattr(models_base, "load_model", lambda spec, options=None: loads.append(spec) or real_load(spec, options))
    with FakeOpenAIServer(target_script) as target, FakeOpenAIServer(judge_script) as judge:
        spec, judge_spec = f"openai:t@{target.base_url}", f"openai:j@{judge.base_url}"
        combined = asyncio.run(evaluate_suite_async(spec, "chisafetybench", judge_model=judge_spec, limit=4, data_dir=mirror,
                                                    store=tmp_path / "store.sqlite", out=tmp_path / "suite"))
    assert loads.count(spec) == 1
    assert combined.members == ["chisafetybench-mcq", "chisafetybench-qa"]
    assert {row.metric for row in combined.rows if row.benchmark == "chisafetybench-qa"} == {"RR-1"}  # not the offline "RR-1-approx"
