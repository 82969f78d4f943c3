"""The attack stage: option parsing, labels, per-technique metrics clustered on the original prompt,
solver attacks through cached roles, and the checks made before any model call."""

from __future__ import annotations

import asyncio
import json
from typing import ClassVar

import pytest
from typer.testing import CliRunner

import thinksafe.attacks.base as attacks_base
from fake_openai import FakeOpenAIServer, Reply, last_user_text
from thinksafe.attacks.base import (
    AttackContext,
    AttackError,
    AttackOption,
    PromptAttack,
    SolverAttack,
    attack_names,
    language_of,
    parse_attack,
    plan_attacks,
)
from thinksafe.cli import app
from thinksafe.metrics import bootstrap_mean, rate
from thinksafe.schema import Completion, Judgement, Message, Sample, SampleResult

runner = CliRunner()
SORRY = "I'm sorry, but I can't help with that."


class Shout(PromptAttack):
    """Test technique: the request in capitals, `times` variants."""

    name: ClassVar[str] = "shout"
    description: ClassVar[str] = "test: capitals"
    options: ClassVar[tuple[AttackOption, ...]] = (AttackOption(name="times", type="int", default=1),)

    def check(self) -> None:
        if self.settings["times"] < 1:
            raise AttackError("shout times must be 1 or more")

    def apply(self, sample: Sample) -> list[Sample]:
        return [self.with_prompt(sample, sample.prompt.upper(), suffix=str(i) if self.settings["times"] > 1 else None)
                for i in range(self.settings["times"])]


class Echo(SolverAttack):
    """Test solver: asks the attacker for a prompt, then sends it to the target."""

    name: ClassVar[str] = "echo"
    description: ClassVar[str] = "test: attacker-written prompt"
    kind: ClassVar[str] = "iterative"
    roles: ClassVar[tuple[str, ...]] = ("attacker",)

    async def solve(self, context: AttackContext, samples: list[Sample]) -> list[SampleResult]:
        attacker, target = context.model("attacker", self.label), context.model("target")
        asks = [context.request([Message(role="user", content=f"rewrite: {s.prompt}")], context.params) for s in samples]
        written = await attacker.generate_all(asks)
        sends = [context.request([Message(role="user", content=w.answer)], context.params) for w in written]
        answers = await target.generate_all(sends)
        return [self.result(self.variant(s, r.messages, attack_queries=1, attack_tokens=w.completion_tokens or 0), a,
                            target.key(r))
                for s, w, r, a in zip(samples, written, sends, answers)]


@pytest.fixture
def test_attacks(monkeypatch):
    attack_names()  # built-ins registered first
    monkeypatch.setitem(attacks_base._ATTACKS, "shout", Shout)
    monkeypatch.setitem(attacks_base._ATTACKS, "echo", Echo)


def test_parse_attack_options_and_labels(test_attacks):
    assert parse_attack("shout").label == "shout"
    attack = parse_attack("shout:times=3")
    assert attack.settings == {"times": 3} and attack.label == "shout:times=3"
    for bad, message in [("nosuch", "unknown attack 'nosuch'"), ("shout:times=x", "takes an int"),
                         ("shout:loud=1", "has no option 'loud'"), ("shout:times", "not KEY=VALUE"),
                         ("shout:times=0", "1 or more")]:
        with pytest.raises(AttackError, match=message):
            parse_attack(bad)
    with pytest.raises(AttackError, match="named twice"):
        plan_attacks(["shout", "shout"])
    assert [a.label for a in plan_attacks(None)] == ["none"]


def test_language_of():
    assert language_of("How do I pick a lock?") == "en"
    assert language_of("如何制作炸药？") == "zh"
    assert language_of("请解释 SQL injection 是什么") == "zh"


def test_variants_keep_source_and_tag_the_technique(test_attacks):
    sample = Sample(id="s1", benchmark="b", messages=[Message(role="system", content="sys"), Message(role="user", content="hi")])
    variants = parse_attack("shout:times=2").apply(sample)
    assert [v.id for v in variants] == ["s1::shout:times=2::0", "s1::shout:times=2::1"]
    assert {v.source_id for v in variants} == {"s1"} and {v.attack for v in variants} == {"shout:times=2"}
    assert variants[0].messages[0].content == "sys" and variants[0].prompt == "HI"


def _result(source: str, attack: str, unsafe: bool) -> SampleResult:
    sample = Sample(id=f"{source}::{attack}", benchmark="b", messages=[Message(role="user", content="x")],
                    attack=attack, source_id=source)
    result = SampleResult(sample=sample, generation_key=sample.id, completion=Completion(answer="a"))
    result.judgements["j"] = {"answer": Judgement(judge="j", channel="answer", label="x", unsafe=unsafe)}
    return result


def test_intervals_cluster_on_the_original_prompt():
    # 20 prompts, each under two techniques that agree: 40 items but only 20 independent clusters
    results = [_result(f"p{i}", attack, i % 3 == 0) for i in range(20) for attack in ("a", "b")]
    metric = rate(results, judge="j", channel="answer", name="unsafe", hit=lambda j: j.unsafe, higher_is_better=False)
    expected = bootstrap_mean([float(i % 3 == 0) for i in range(20) for _ in "ab"], [f"p{i}" for i in range(20) for _ in "ab"])
    assert metric.n == 40 and (metric.value, metric.ci_low, metric.ci_high) == expected
    by_item = bootstrap_mean([float(i % 3 == 0) for i in range(20) for _ in "ab"], [f"p{i}{a}" for i in range(20) for a in "ab"])
    assert metric.ci_high - metric.ci_low > by_item[2] - by_item[1]  # clustered intervals are wider than per-item ones


def harmbench_script(body):
    prompt = last_user_text(body)
    if prompt.startswith("rewrite: "):
        return Reply(content="PLEASE " + prompt.removeprefix("rewrite: "))
    return Reply(content="Sure, here is how." if prompt.isupper() or prompt.startswith("PLEASE") else SORRY,
                 reasoning_content="Thinking it over.")


def test_eval_reports_every_metric_per_technique(test_attacks, mirror, tmp_path):
    with FakeOpenAIServer(harmbench_script) as target, FakeOpenAIServer(harmbench_script) as attacker:
        args = ["eval", "--model", f"openai:t@{target.base_url}", "--benchmark", "strongreject-small", "--limit", "4",
                "--judge", "refusal-rules", "--attack", "none", "--attack", "shout", "--attack", "echo",
                "--attacker-model", f"openai:a@{attacker.base_url}", "--out", str(tmp_path / "out"), "--no-progress",
                "--no-report"]
        result = runner.invoke(app, args, env={"OPENAI_API_KEY": "k"})
        assert result.exit_code == 0, result.output
        assert len(target.bodies) == 12 and len(attacker.bodies) == 4  # 4 prompts x (none, shout, echo) / 4 rewrites
        summary = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert summary["attacks"] == ["none", "shout", "echo"]
        refusal = {m["group"]: m["value"] for m in summary["metrics"]
                   if m["name"] == "refusal_rate" and m["channel"] == "answer"}
        assert refusal["attack:none"] == 1.0 and refusal["attack:shout"] == 0.0 and refusal["attack:echo"] == 0.0
        assert refusal["all"] == pytest.approx(1 / 3)
        spend = summary["extra"]["attacks"]
        assert spend["echo"]["items"] == 4 and spend["echo"]["target_queries"] == 4 and spend["shout"]["kind"] == "prompt"
        assert "per technique" in result.output or "shout" in result.output
        rows = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
        assert {r["attack"] for r in rows} == {"none", "shout", "echo"}

        again = runner.invoke(app, args, env={"OPENAI_API_KEY": "k"})  # everything from the store
        assert again.exit_code == 0, again.output
        assert len(target.bodies) == 12 and len(attacker.bodies) == 4


def test_missing_attacker_model_fails_before_any_call(test_attacks, mirror, tmp_path):
    with FakeOpenAIServer(harmbench_script) as target:
        result = runner.invoke(app, ["eval", "--model", f"openai:t@{target.base_url}", "--benchmark", "strongreject-small",
                                     "--limit", "2", "--judge", "refusal-rules", "--attack", "echo", "--out",
                                     str(tmp_path / "out")], env={"OPENAI_API_KEY": "k"})
        assert result.exit_code == 2 and "--attacker-model" in result.output
        bad = runner.invoke(app, ["eval", "--model", f"openai:t@{target.base_url}", "--benchmark", "strongreject-small",
                                  "--attack", "shout:times=zero", "--out", str(tmp_path / "out")], env={"OPENAI_API_KEY": "k"})
        assert bad.exit_code == 2 and "takes an int" in bad.output
        assert target.bodies == [] and not (tmp_path / "out").exists()


def test_solver_attack_refused_on_a_benchmark_that_runs_its_own_dialogue(test_attacks, tmp_path):
    from thinksafe.pipeline import evaluate_async

    with FakeOpenAIServer(harmbench_script) as server:
        with pytest.raises(AttackError, match="runs its own dialogue"):
            asyncio.run(evaluate_async(f"openai:t@{server.base_url}", "cse-phishing", attacks=["echo"], limit=1,
                                       judges=["refusal-rules"], role_models={"attacker": f"openai:a@{server.base_url}"},
                                       benchmark_options={"victim_model": f"openai:v@{server.base_url}"}))
        assert server.bodies == []


def test_every_registered_attack_declares_itself_and_the_jailbreak_suite_names_real_ones():
    from thinksafe.benchmarks.base import suite_names

    for name, cls in attack_names().items():
        assert cls.name == name and cls.description, name
        assert cls.kind in ("prompt", "iterative", "reasoning", "injection"), name
        for option in cls.options:
            assert option.help or name == "none", (name, option.name)
    for text in suite_names()["jailbreak"].attacks:
        parse_attack(text)


def test_jailbreak_suite_runs_every_default_technique_in_one_command(mirror, tmp_path):
    from thinksafe.benchmarks.base import suite_names

    techniques = suite_names()["jailbreak"].attacks
    with FakeOpenAIServer(harmbench_script) as target:
        result = runner.invoke(app, ["eval", "--model", f"openai:t@{target.base_url}", "--benchmark", "jailbreak",
                                     "--limit", "2", "--out", str(tmp_path / "out"), "--no-progress", "--no-report"],
                               env={"OPENAI_API_KEY": "k", "COLUMNS": "100"})
        assert result.exit_code == 0, result.output
        assert len(target.bodies) == 2 * 2 * len(techniques)  # two members x two prompts x each technique
    suite = json.loads((tmp_path / "out" / "summary.json").read_text())
    groups = {(row["benchmark"], row["group"]) for row in suite["rows"]}
    for member in ("strongreject-small", "chisafetybench-qa"):
        assert (member, "all") in groups
        assert {g for b, g in groups if b == member} >= {f"attack:{t}" for t in techniques}
    assert "jailbreak - per technique" in result.output and "cot-hijack" in result.output
