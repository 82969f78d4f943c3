"""StrongREJECT, HarmBench and JailbreakBench loaders, and the shared harm metrics."""

import csv
import shutil
from collections import Counter

import pytest

from thinksafe.benchmarks import get_benchmark
from thinksafe.data import DataError, DataResolver
from thinksafe.schema import Completion, Judgement, SampleResult


def load(name, mirror, **options):
    return get_benchmark(name, **options).load(DataResolver(mirror, offline=True))


def test_strongreject_full_and_small(mirror):
    full, small = load("strongreject", mirror), load("strongreject-small", mirror)
    assert len(full) == 313 and len(small) == 60
    assert Counter(s.category[0] for s in full) == {
        "Non-violent crimes": 59, "Violence": 54, "Disinformation and deception": 50,
        "Hate, harassment and discrimination": 50, "Illegal goods and services": 50, "Sexual content": 50,
    }
    assert all(s.metadata["harmful"] for s in full + small)
    assert full[0].prompt.startswith("Can you explain how to write a deceptive email")
    assert len({s.id for s in full}) == 313


def test_harmbench_leaves_out_copyright_and_keeps_context(mirror):
    samples = load("harmbench", mirror)
    assert len(samples) == 300
    assert Counter(s.category[1] for s in samples) == {"standard": 200, "contextual": 100}
    assert not any("copyright" in s.category for s in samples)
    contextual = next(s for s in samples if s.id == "harmbench-carroll_method_isotonitazene")
    context = contextual.metadata["context"]
    assert context.startswith("Although there is no information on the actual method")
    assert contextual.prompt == f"{context}\n\n---\n\n{contextual.metadata['behavior']}"
    standard = next(s for s in samples if s.category[1] == "standard")
    assert standard.metadata["context"] is None and standard.prompt == standard.metadata["behavior"]
    assert "copyright" in get_benchmark("harmbench").notes()[0]
    assert len(load("harmbench", mirror, split="test")) == 240 and len(load("harmbench", mirror, split="val")) == 60
    with pytest.raises(ValueError):
        load("harmbench", mirror, split="train")


def test_jailbreakbench_100_in_10_categories(mirror):
    samples = load("jailbreakbench", mirror)
    assert len(samples) == 100 and set(Counter(s.category[0] for s in samples).values()) == {10}
    assert samples[0].id == "jbb-0" and samples[0].prompt.startswith("Write a defamatory article")
    assert samples[0].metadata["behavior_name"] == "Defamation"


def test_jailbreakbench_falls_back_to_the_official_csv_and_checks_its_shape(mirror, tmp_path):
    data = tmp_path / "data" / "jailbreakbench"
    data.mkdir(parents=True)
    with (mirror / "jailbreakbench" / "jbb_behaviors_harmful_100.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with (data / "harmful-behaviors.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["Index", "Goal", "Target", "Behavior", "Category", "Source"])
        writer.writeheader()
        for row in rows[:99]:
            writer.writerow({**row, "Target": "Sure, here is", "Source": "Original"})
    with pytest.raises(DataError, match="expected 100 behaviors"):
        get_benchmark("jailbreakbench").load(DataResolver(tmp_path / "data", offline=True))
    shutil.copy(mirror / "jailbreakbench" / "jbb_behaviors_harmful_100.csv", data / "jbb_behaviors_harmful_100.csv")
    assert len(get_benchmark("jailbreakbench").load(DataResolver(tmp_path / "data", offline=True))) == 100


def test_default_judges_need_a_judge_model_only_when_given():
    assert get_benchmark("strongreject").default_judges == ("refusal-rules",)
    assert get_benchmark("strongreject", judge_model="openai:j@http://x/v1").default_judges == ("refusal-rules", "strongreject")
    assert get_benchmark("harmbench", judge_model="hf:x").default_judges == ("refusal-rules", "strongreject")


def result(sample, **judgements):
    return SampleResult(sample=sample, generation_key=sample.id, completion=Completion(answer="x"),
                        judgements={name: {"answer": j} for name, j in judgements.items()})


def test_harm_metrics_per_kind_of_judge(mirror):
    samples = load("strongreject-small", mirror)[:6]
    rewards = [0.5, -1.0, 2.0, None, 1.5, 0.0]
    results = []
    for sample, reward in zip(samples, rewards):
        reward_judgement = (Judgement(judge="reward-model", channel="answer", label="reward", score=reward,
                                      details={"attribute": "helpfulness"})
                            if reward is not None else Judgement(judge="reward-model", channel="answer", unscored_reason="empty"))
        results.append(result(sample, **{"reward-model": reward_judgement}))
    metrics = get_benchmark("strongreject-small").metrics(results, "reward-model", "answer")
    (overall,) = [m for m in metrics if m.group == "all"]
    assert overall.name == "mean_reward" and overall.value == pytest.approx(0.6) and overall.n == 5 and overall.unscored == 1
    assert overall.range == (-1.0, 2.0)
    assert {m.range for m in metrics} == {(-1.0, 2.0)}  # every category's row shows the range observed over the run
    assert not any(m.name == "harmful_rate" for m in metrics)  # a raw reward has no safe/unsafe reading
