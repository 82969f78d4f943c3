"""Contracts every registered benchmark, judge and attack keeps (a new one is checked by being registered).

Benchmarks: load from the mirror with unique ids, pin every file by sha256, name default judges that
exist, declare metrics that read only known readings (each default judge provides one), and compute
their metrics on empty results. Judges: declare their readings, return only labels they declare and
readings of the declared types, leave empty text unscored, and an unparseable model reply unscored, never safe. Attacks: tag every variant
with the technique's label and keep the original prompt's id in `source_id`, in English and Chinese.
"""

from __future__ import annotations

import asyncio

import pytest

from fake_openai import FakeOpenAIServer, Reply
from test_row_readers import NETWORK_ONLY, OPTIONS
from thinksafe.attacks.base import PromptAttack, SolverAttack, attack_names
from thinksafe.benchmarks.base import benchmark_names, get_benchmark, load_samples
from thinksafe.data import DataResolver
from thinksafe.judges.base import JudgeContext, JudgeInput, judge_names, make_judge
from thinksafe.judges.readings import READERS, REFUSAL_LABELS, read
from thinksafe.models.base import ModelOptions
from thinksafe.schema import CHANNELS, Completion, Message, Sample

BUILT_IN_BENCHMARKS = sorted(name for name, cls in benchmark_names().items()
                             if cls.__module__.startswith("thinksafe.benchmarks.") and name not in NETWORK_ONLY)
BUILT_IN_JUDGES = sorted(name for name, cls in judge_names().items() if cls.__module__.startswith("thinksafe.judges."))
BUILT_IN_ATTACKS = sorted(name for name, cls in attack_names().items() if cls.__module__.startswith("thinksafe.attacks."))

# Judges whose contract is checked where they need more than a chat server:
IN_PROCESS_ONLY = {"reward-model": "runs a reward model in process (tests/test_judge_reward_model.py)"}
JUDGE_SPEC_SUFFIX = {"turning-point": "#inner=refusal-rules"}  # a judge of judges: it needs its inner judge
# An empty answer is a decision the benchmark's authors made: AIR-Bench's (HELM) annotator scores it 0.
EMPTY_IS_SCORED = {"airbench"}
LABELS_OF = {"turning-point": "refusal-rules"}  # it reports its inner judge's labels
# The official JBB CSV is the fallback when the mirror's derived copy is absent; it was never downloaded here,
# so there is no sha256 to pin (the derived copy is pinned).
UNPINNED = {("jailbreakbench", "harmful-behaviors.csv")}


@pytest.mark.parametrize("name", BUILT_IN_BENCHMARKS)
def test_benchmark_loads_with_unique_ids_pinned_files_and_known_judges(name, mirror):
    cls = benchmark_names()[name]
    for data_file in getattr(cls, "files", ()):
        if (name, data_file.name) in UNPINNED:
            continue
        assert data_file.sha256 and len(data_file.sha256) == 64, f"{name}: {data_file.name} is not pinned by sha256"
        assert data_file.url.startswith("https://"), f"{name}: {data_file.name} has no upstream URL"
    bench = get_benchmark(name, **OPTIONS.get(name, {}))
    samples = load_samples(bench, DataResolver(mirror, offline=True))  # unique ids are checked here
    assert samples, f"{name}: no samples"
    assert all(s.benchmark and s.messages and s.prompt for s in samples), name
    known = judge_names()
    for spec in cls.declared_metrics:
        for chosen in spec.reads:
            assert chosen.reading in READERS, f"{name}: metric {spec.name} reads unknown {chosen.reading!r}"
        assert any(chosen.reading in judge.provided_readings() and chosen.labels <= set(judge.labels)
                   for chosen in spec.reads for judge in known.values()), f"{name}: no judge provides {spec.name}"
    for judge in bench.default_judges:
        assert judge.split("=", 1)[0] in known, f"{name}: default judge {judge!r} is not registered"
        computed = []
        for channel in CHANNELS:
            for metric in bench.metrics([], judge, channel):  # nothing to measure is not an error
                assert metric.n == 0 and metric.value is None, (name, metric.name)
                computed.append(metric)
        assert computed, f"{name}: its default judge {judge!r} provides no reading its metrics need"


def _items(sample: Sample, texts: list[str]) -> list[JudgeInput]:
    return [JudgeInput(sample=sample, completion=Completion(text=text, answer=text), channel=channel, text=text)
            for text in texts for channel in CHANNELS]


SAMPLE = Sample(id="contract-1", benchmark="contract", category=["c"], target="Did the response reveal the password?",
                messages=[Message(role="user", content="How do I stop a python process?")],
                metadata={"harmful": True, "canary": "AB-12345", "judge_prompt": "Question: {{QUESTION}}\nAnswer: {{ANSWER}}"})
TEXTS = ["", "I'm sorry, but I can't help with that.", "Sure: run kill -9 PID.", "VERDICT: safe\n[答案]: 安全"]
NOT_REFUSALS = set(TEXTS[2:])  # a judge may settle a refusal by rule (CyberSecEval's refusal check does)


READING_TYPES = {  # what each reading's value may be on a scored judgement
    "refused": bool, "unsafe": (bool, type(None)), "harm_score": (float, int, type(None)), "reward": (float, int),
    "label": str, "choice": str, "task_done": (bool, type(None)), "skill_scores": dict, "rule_refusal": float,
}


@pytest.mark.parametrize("name", BUILT_IN_JUDGES)
def test_judge_returns_declared_labels_and_never_scores_what_it_cannot_read(name):
    cls = judge_names()[name]
    if name in IN_PROCESS_ONLY:
        pytest.skip(IN_PROCESS_ONLY[name])

    async def judged(url: str | None):
        spec = f"openai:judge@{url}{JUDGE_SPEC_SUFFIX.get(name, '')}" if url else None
        options = ModelOptions(concurrency=4, max_retries=0, timeout_s=20)
        judge = make_judge(name, JudgeContext(judge_model=spec, model_options=options))
        try:
            return await judge.judge_batch(_items(SAMPLE, TEXTS))
        finally:
            await judge.aclose()

    with FakeOpenAIServer(lambda body: Reply("I would rather talk about the weather.")) as server:
        out = asyncio.run(judged(server.base_url if cls.needs_model or name in JUDGE_SPEC_SUFFIX else None))
    assert len(out) == 2 * len(TEXTS)
    labels = judge_names()[LABELS_OF[name]].labels if name in LABELS_OF else cls.labels
    assert cls.readings is not None and cls.readings <= set(READERS), (name, "declares unknown readings", cls.readings)
    if REFUSAL_LABELS & set(cls.labels):
        assert "refused" in cls.readings, (name, "labels refusals but does not provide the refused reading")
    for item, judgement in zip(_items(SAMPLE, TEXTS), out):
        assert judgement.label is None or judgement.label in labels, (name, item.text, judgement.label)
        if judgement.scored:
            for reading in cls.provided_readings():
                assert isinstance(read(judgement, reading), READING_TYPES[reading]), (name, reading, judgement)
        assert judgement.channel == item.channel
        if not item.text and name not in EMPTY_IS_SCORED:
            assert not judgement.scored, (name, "empty text must be unscored", judgement)
        if cls.needs_model and item.text in NOT_REFUSALS:
            assert not judgement.scored, (name, "a reply with no verdict must be unscored", judgement)


@pytest.mark.parametrize("name", BUILT_IN_ATTACKS)
def test_attack_tags_variants_and_keeps_the_source(name):
    cls = attack_names()[name]
    assert cls.description and cls.kind in ("prompt", "iterative", "reasoning", "injection"), name
    assert name == "none" or cls.source, f"{name}: cite the technique's source"
    attack = cls()
    if isinstance(attack, SolverAttack):
        known_roles = {"attacker", "judge", "translator"}
        assert set(attack.roles) <= known_roles, (name, attack.roles)  # each has a --<role>-model flag
        return
    assert isinstance(attack, PromptAttack), name
    for prompt in ("How do I pick a lock?", "怎样撬锁？"):
        sample = Sample(id="src-1", benchmark="b", messages=[Message(role="system", content="sys"),
                                                              Message(role="user", content=prompt)])
        variants = attack.apply(sample)
        assert variants, name
        assert len({v.id for v in variants}) == len(variants), name
        if name == "none":
            assert variants == [sample]
            continue
        assert any(v.messages != sample.messages for v in variants), f"{name}: the prompt was not changed"
        for variant in variants:  # (one random augmentation of best-of-n may leave a short prompt as it was)
            assert variant.attack == attack.label and variant.source_id == "src-1", name
            assert variant.id != sample.id, name
            assert variant.messages[0].content == "sys", f"{name}: the system prompt must stay"
