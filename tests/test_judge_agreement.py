"""Inter-judge agreement in the run summary: kappa on the safe/unsafe readings."""

import pytest

from thinksafe.analysis.judge_agreement import analyse, cohen_kappa
from thinksafe.schema import Completion, Judgement, Message, Sample, SampleResult


def result(i, a, b, thinking=None):
    sample = Sample(id=f"s{i}", benchmark="b", messages=[Message(role="user", content="q")])
    judgements = {"a": {}, "b": {}}
    for name, value in (("a", a), ("b", b)):
        if value == "unscored":
            judgements[name]["answer"] = Judgement(judge=name, channel="answer", unscored_reason="x")
        else:
            judgements[name]["answer"] = Judgement(judge=name, channel="answer", label="l", unsafe=value)
    return SampleResult(sample=sample, generation_key=str(i), completion=Completion(answer="x"), judgements=judgements)


def test_pairwise_kappa_on_unsafe_readings():
    readings = [(True, True), (True, False), (False, False), (False, False), (True, True), ("unscored", True), (None, False)]
    results = [result(i, a, b) for i, (a, b) in enumerate(readings)]
    extra = analyse(results, ["a", "b"])
    (answer,) = [p for p in extra["pairs"] if p["channel"] == "answer"]
    assert answer["n"] == 5 and answer["left_out"] == 2
    assert (answer["both_unsafe"], answer["both_safe"], answer["only_first_unsafe"], answer["only_second_unsafe"]) == (2, 2, 1, 0)
    assert answer["agreement"] == pytest.approx(0.8)
    # po = 0.8, pe = 0.6 * 0.4 + 0.4 * 0.6 = 0.48
    assert answer["kappa"] == pytest.approx((0.8 - 0.48) / (1 - 0.48))
    assert answer["kappa"] == pytest.approx(cohen_kappa([True, True, False, False, True], [True, False, False, False, True]))
    (reasoning,) = [p for p in extra["pairs"] if p["channel"] == "reasoning"]
    assert reasoning["n"] == 0 and reasoning["left_out"] == 0 and reasoning["kappa"] is None


def test_no_agreement_section_for_a_single_judge():
    assert analyse([result(0, True, True)], ["a"]) is None
