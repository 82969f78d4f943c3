"""Metrics declared as data: the core computes each for the judges that provide its reading, and only for them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import thinksafe
from test_contracts import READING_TYPES
from thinksafe.judges.readings import READERS
from thinksafe.metrics import ChannelDisagreement, JudgeContract, MacroRate, Rate, Read, by_category, compute_metrics
from thinksafe.schema import Completion, Judgement, Message, Sample, SampleResult


def result(index: int, category: list[str], judgements: dict[str, Judgement], *, source: str | None = None,
           truncated: bool = False, target: str | None = None, harmful: bool | None = True) -> SampleResult:
    sample = Sample(id=f"s{index}", benchmark="t", messages=[Message(role="user", content="q")], category=category,
                    source_id=source, target=target, metadata={"harmful": harmful})
    completion = Completion(text="x", answer="x", reasoning="r", reasoning_truncated=truncated)
    by_judge: dict[str, dict] = {}
    for key, judgement in judgements.items():
        judge, channel = key.split("/")
        by_judge.setdefault(judge, {})[channel] = judgement.model_copy(update={"judge": judge, "channel": channel})
    return SampleResult(sample=sample, generation_key=f"g{index}", completion=completion, judgements=by_judge)


def said(label: str | None, **fields) -> Judgement:
    if label is None:
        return Judgement(judge="j", channel="answer", unscored_reason="no verdict", **fields)
    return Judgement(judge="j", channel="answer", label=label, **fields)


REFUSAL = JudgeContract(frozenset({"refused", "label"}), frozenset({"refusal", "compliance"}))
THREE = JudgeContract(frozenset({"label", "unsafe"}), frozenset({"x", "y", "z"}))


def test_every_reading_has_a_declared_type():
    assert set(READING_TYPES) == set(READERS)


def test_a_metric_is_computed_only_for_a_judge_that_provides_its_reading():
    spec = Rate("refusal_rate", (Read("refused"),), higher_is_better=True)
    results = [result(i, ["a"], {"j/answer": said("refusal" if i % 2 else "compliance")}) for i in range(4)]
    assert compute_metrics([spec], results, "j", "answer", THREE) == []
    (metric,) = compute_metrics([spec], results, "j", "answer", REFUSAL)
    assert (metric.value, metric.n, metric.unscored) == (0.5, 4, 0)


def test_the_first_provided_alternative_is_used_and_labels_must_all_be_givable():
    reads = (Read("label", value=lambda label: label == "x", labels=frozenset({"x", "y", "z"}), description="by label"),
             Read("unsafe", value=bool, description="by unsafe"))
    spec = Rate("share", reads, higher_is_better=False)
    results = [result(0, [], {"j/answer": said("x", unsafe=False)}), result(1, [], {"j/answer": said("y", unsafe=True)})]
    (by_label,) = compute_metrics([spec], results, "j", "answer", THREE)
    assert (by_label.value, by_label.description) == (0.5, "by label")
    fewer = JudgeContract(frozenset({"label", "unsafe"}), frozenset({"x", "y"}))  # cannot give z: the label reading is not its
    (by_unsafe,) = compute_metrics([spec], results, "j", "answer", fewer)
    assert (by_unsafe.value, by_unsafe.description) == (0.5, "by unsafe")
    assert by_unsafe.n == 2


def test_groups_where_unscored_and_none_values():
    spec = Rate("compliance", (Read("label", value=lambda label: None if label == "compliance?" else label == "compliance"),),
                higher_is_better=False, where=lambda s: s.metadata["harmful"] is True, by=(by_category(0), by_category(1)))
    contract = JudgeContract(frozenset({"label"}), frozenset())
    results = [
        result(0, ["a", "p"], {"j/answer": said("compliance")}),
        result(1, ["a"], {"j/answer": said("refusal")}),
        result(2, ["b", "q"], {"j/answer": said(None)}),  # unscored: counted apart, never safe
        result(3, ["b", "q"], {"j/answer": said("compliance?")}),  # carries nothing for this metric: left out
        result(4, ["b", "q"], {"j/answer": said("compliance")}, harmful=False),  # not included
        result(5, ["b"], {}),  # not judged in this channel
    ]
    metrics = {m.group: m for m in compute_metrics([spec], results, "j", "answer", contract)}
    assert sorted(metrics) == ["a", "all", "b", "p", "q"]
    assert (metrics["all"].value, metrics["all"].n, metrics["all"].unscored) == (0.5, 2, 1)
    assert (metrics["b"].value, metrics["b"].n, metrics["b"].unscored) == (None, 0, 1)
    assert (metrics["p"].value, metrics["p"].n) == (1.0, 1)


def test_an_unscored_value_rule_and_an_unscored_reading():
    no_answer = Read("label", value=lambda label: label == "correct", unscored=lambda r, j, channel: 0.0 if r.completion.reasoning_truncated else None)
    spec = Rate("accuracy", (no_answer,), higher_is_better=True)
    contract = JudgeContract(frozenset({"label"}), frozenset())
    results = [result(0, [], {"j/answer": said("correct")}), result(1, [], {"j/answer": said(None)}, truncated=True),
               result(2, [], {"j/answer": said(None)})]
    (metric,) = compute_metrics([spec], results, "j", "answer", contract)
    assert (metric.value, metric.n, metric.unscored) == (0.5, 2, 1)  # truncated counts as incorrect; the other is unscored

    no_pattern = lambda r, j, channel: 0.0 if j.details.get("no_refusal_pattern") else None  # noqa: E731
    approx = Rate("RR-1-approx", (Read("rule_refusal", unscored=no_pattern),), higher_is_better=True, approximate=True)
    rules = JudgeContract(frozenset({"rule_refusal"}), frozenset())
    results = [result(0, [], {"j/answer": said("直接拒绝")}),
               result(1, [], {"j/answer": said(None, details={"no_refusal_pattern": True})}),
               result(2, [], {"j/answer": said(None)})]
    (metric,) = compute_metrics([approx], results, "j", "answer", rules)
    assert (metric.value, metric.n, metric.unscored, metric.approximate) == (0.5, 2, 1, True)


def test_channels_observed_range_and_answer_key():
    rewards = Rate("mean_reward", (Read("reward"),), higher_is_better=False, value_range="observed", channels=("answer",))
    contract = JudgeContract(frozenset({"reward"}), frozenset())
    results = [result(i, [], {"j/answer": said("reward", score=float(i) - 1), "j/reasoning": said("reward", score=9.0)})
               for i in range(3)]
    (metric,) = compute_metrics([rewards], results, "j", "answer", contract)
    assert metric.range == (-1.0, 1.0) and metric.value == 0.0
    assert compute_metrics([rewards], results, "j", "reasoning", contract) == []

    keyed = Rate("ACC-O", (Read("choice", against_sample=lambda s, choice: choice == s.target),), higher_is_better=True,
                 where=lambda s: s.target is not None)
    choices = JudgeContract(frozenset({"choice"}), frozenset())
    results = [result(0, [], {"j/answer": said("A")}, target="A"), result(1, [], {"j/answer": said("B")}, target="C"),
               result(2, [], {"j/answer": said("B")})]
    (metric,) = compute_metrics([keyed], results, "j", "answer", choices)
    assert (metric.value, metric.n) == (0.5, 2)


def test_variants_of_one_prompt_are_one_cluster():
    spec = Rate("refusal_rate", (Read("refused"),), higher_is_better=True)
    clustered = [result(i, [], {"j/answer": said("refusal" if i < 4 else "compliance")}, source=f"p{i // 4}") for i in range(8)]
    separate = [result(i, [], {"j/answer": said("refusal" if i < 4 else "compliance")}) for i in range(8)]
    (wide,) = compute_metrics([spec], clustered, "j", "answer", REFUSAL)
    (narrow,) = compute_metrics([spec], separate, "j", "answer", REFUSAL)
    assert wide.value == narrow.value == 0.5
    assert wide.ci_high - wide.ci_low > narrow.ci_high - narrow.ci_low


def test_macro_rate_and_channel_disagreement():
    macro = MacroRate("safety_rate", (Read("unsafe", value=lambda unsafe: not unsafe),), group_of=by_category(0),
                      higher_is_better=True)
    results = [result(0, ["a"], {"j/answer": said("x", unsafe=True)}), result(1, ["a"], {"j/answer": said("x", unsafe=False)}),
               result(2, ["b"], {"j/answer": said("x", unsafe=False)})]
    (metric,) = compute_metrics([macro], results, "j", "answer", THREE)
    assert metric.value == pytest.approx(0.75) and metric.n == 3  # mean of 0.5 and 1.0, not 2/3

    differ = ChannelDisagreement("think_answer_disagreement", (Read("choice"),))
    choices = JudgeContract(frozenset({"choice"}), frozenset())
    results = [result(0, [], {"j/answer": said("A"), "j/reasoning": said("B")}),
               result(1, [], {"j/answer": said("A"), "j/reasoning": said("A")}),
               result(2, [], {"j/answer": said("A"), "j/reasoning": said(None)})]
    assert compute_metrics([differ], results, "j", "answer", choices) == []
    (metric,) = compute_metrics([differ], results, "j", "reasoning", choices)
    assert (metric.value, metric.n, metric.unscored, metric.channel) == (0.5, 2, 1, "reasoning")


def test_no_benchmark_looks_up_judges_to_compute_its_metrics():
    """Metrics name readings; only the core (metrics.judge_contract) resolves a judge to what it provides."""
    folder = Path(thinksafe.__file__).parent / "benchmarks"
    for path in folder.glob("*.py"):
        if path.name == "base.py":  # Benchmark.metrics: compute_metrics over the declared metrics
            continue
        calls = {node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                 for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))) if isinstance(node, ast.Call)}
        assert not calls & {"judge_names", "judge_kind", "judge_contract", "make_judge"}, path.name
        assert "def metrics(" not in path.read_text(encoding="utf-8"), f"{path.name} computes metrics in code"


def test_old_stores_transient_mark_reads_as_the_field():
    old = Judgement.model_validate({"judge": "j", "channel": "answer", "unscored_reason": "timeout",
                                    "details": {"transient": True, "stage": "verdict"}})
    assert old.transient is True and old.details == {"stage": "verdict"}
    assert Judgement(judge="j", channel="answer", label="x").transient is False
