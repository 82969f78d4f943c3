"""`enhance data`: build the safety fine-tuning set (JSONL chat records with thinking kept).

Steps, each recorded in OUT/report.json:
1. read the pools (harmful, benign look-alike, math); drop duplicate prompts;
2. drop every prompt whose normalised text equals an evaluation item's (the benchmarks
   `enhance compare` will run, and the held-out half of CHiSafetyBench), with the reason;
3. harmful and benign prompts: the teacher answers under our safety-guidance system
   prompt, K candidates each; the judges read both channels; one accepted candidate per
   prompt is kept, responsible (guided) refusals first;
4. math problems: the model being enhanced answers them itself (self-distillation); a
   candidate is kept only when `math-answer` verifies its final answer; the number kept is
   `math_ratio` x the number of safety records (or all there are);
5. shuffle, split train/eval (stratified by kind), write OUT/train.jsonl, OUT/eval.jsonl,
   OUT/excluded.jsonl and OUT/split.json (fingerprints of every training prompt).

A record: {"id", "kind", "pool", "lang", "category", "source_model", "grade",
"messages": [..., {"role": "assistant", "content": "<think>\\n...\\n</think>\\n\\n..."}]}.
The system prompt used for the teacher is not in the record: the model learns to behave
that way without it.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, Field
from rich.console import Console

from thinksafe.data import DataResolver
from thinksafe.enhance.pools import DEFAULT_BENIGN, DEFAULT_HARMFUL, DEFAULT_MATH, Kind, PoolItem, load_pool
from thinksafe.enhance.sampling import (
    PoolBenchmark,
    SamplingReport,
    judge_benign,
    judge_harmful,
    judge_math,
    select,
)
from thinksafe.enhance.split import (
    Exclusion,
    SplitRecord,
    check_disjoint,
    remove_duplicates,
    remove_overlaps,
    seeded_split,
)
from thinksafe.models.base import ModelOptions
from thinksafe.text import prompt_fingerprint as fingerprint
from thinksafe.reasoning import DEFAULT_MARKERS, ThinkingMarkers
from thinksafe.schema import GenerationParams, Message, SampleResult
from thinksafe.store import Store

# What `enhance compare` evaluates by default; the training prompts are kept off all of them.
DEFAULT_EVAL_BENCHMARKS = ("chisafetybench-qa", "xstest", "gsm8k", "math500", "aime24", "cmath")


class DataConfig(BaseModel):
    out: Path
    model: str | None = Field(None, description="the model being enhanced (self-distilled math); None: no math data")
    teacher: str | None = Field(None, description="teacher model spec for harmful and benign targets")
    harmful: list[str] = Field(default_factory=lambda: list(DEFAULT_HARMFUL))
    benign: list[str] = Field(default_factory=lambda: list(DEFAULT_BENIGN))
    math: list[str] = Field(default_factory=lambda: list(DEFAULT_MATH))
    exclude_benchmarks: list[str] = Field(default_factory=lambda: list(DEFAULT_EVAL_BENCHMARKS))
    judges: list[str] = Field(default_factory=lambda: ["refusal-rules"])
    guidance_judge: str | None = "guidance-rules"
    judge_model: str | None = None
    teacher_samples: int = 4
    math_samples: int = 2
    math_ratio: float = 1.0
    limit_harmful: int | None = None
    limit_benign: int | None = None
    limit_math: int | None = None
    eval_fraction: float = 0.05
    seed: int = 0
    teacher_params: GenerationParams = GenerationParams()
    math_params: GenerationParams = GenerationParams()
    system_prompt: dict[str, str] | None = Field(None, description="lang -> system prompt; None: ours")
    data_dir: Path | None = None
    store: Path | None = None
    markers: ThinkingMarkers = DEFAULT_MARKERS
    model_options: ModelOptions = ModelOptions()


class PoolCount(BaseModel):
    name: str
    kind: str
    items: int
    notes: list[str] = Field(default_factory=list)


class DataReport(BaseModel):
    pools: list[PoolCount] = Field(default_factory=list)
    excluded: dict[str, int] = Field(default_factory=dict, description="reason -> count")
    evaluation_items_checked: dict[str, int] = Field(default_factory=dict)
    unknown_benchmarks: list[str] = Field(default_factory=list)
    sampling: list[SamplingReport] = Field(default_factory=list)
    math_target: int = 0
    records: dict[str, int] = Field(default_factory=dict, description="kind -> records written")
    languages: dict[str, int] = Field(default_factory=dict)
    train: int = 0
    eval: int = 0
    overlap_after_split: list[str] = Field(default_factory=list, description="must be empty")
    notes: list[str] = Field(default_factory=list)


def guidance_prompts() -> dict[str, str]:
    folder = resources.files("thinksafe.enhance.prompts")
    return {lang: folder.joinpath(f"safety_guidance_{lang}.txt").read_text(encoding="utf-8").strip() for lang in ("en", "zh")}


def assistant_content(reasoning: str, answer: str, markers: ThinkingMarkers = DEFAULT_MARKERS) -> str:
    return f"{markers.open}\n{reasoning.strip()}\n{markers.close}\n\n{answer.strip()}"


def to_record(item: PoolItem, result: SampleResult, source: str, grade: str | None, markers: ThinkingMarkers) -> dict:
    completion = result.completion
    messages = [m.model_dump() for m in item.messages]
    messages.append({"role": "assistant", "content": assistant_content(completion.reasoning or "", completion.answer, markers)})
    return {
        "id": item.id, "kind": item.kind, "pool": item.pool, "lang": item.lang, "category": item.category,
        "source_model": source, "grade": grade, "messages": messages,
    }


def evaluation_fingerprints(names: list[str], data: DataResolver, report: DataReport) -> dict[str, dict[str, str]]:
    """benchmark -> {fingerprint: 'benchmark:item id'} for every registered benchmark named (others are noted)."""
    from thinksafe.benchmarks.base import benchmark_names, get_benchmark

    known = benchmark_names()
    out: dict[str, dict[str, str]] = {}
    for name in names:
        if name not in known:
            report.unknown_benchmarks.append(name)
            continue
        samples = get_benchmark(name).load(data)
        report.evaluation_items_checked[name] = len(samples)
        out[name] = {}
        for sample in samples:
            out[name].setdefault(fingerprint(sample.prompt), f"{name}:{sample.id}")
    return out


class DataBuilder:
    """Runs the steps in the module docstring; `run()` returns the report."""

    def __init__(self, config: DataConfig, console: Console | None = None, progress: bool = True):
        self.config = config
        self.console = console or Console(stderr=True)
        self.progress = progress
        self.data = DataResolver(config.data_dir)
        self.report = DataReport()
        self.exclusions: list[Exclusion] = []
        self.heldout: dict[str, list[PoolItem]] = {}
        self.reserved: set[str] = set()  # fingerprints of split pools' training halves

    def read_pools(self) -> dict[Kind, list[PoolItem]]:
        by_kind: dict[Kind, list[PoolItem]] = {"harmful": [], "benign": [], "math": []}
        names = {"harmful": self.config.harmful, "benign": self.config.benign, "math": self.config.math if self.config.model else []}
        for kind, pools in names.items():
            for name in pools:
                result = load_pool(name, kind, self.data, self.config.seed)
                self.report.pools.append(PoolCount(name=name, kind=kind, items=len(result.items), notes=result.notes))
                self.report.notes += result.notes
                if result.heldout:
                    self.heldout[name] = result.heldout
                    self.reserved |= {i.fingerprint for i in result.items}  # the training half, used or not
                by_kind[kind] += result.items
        if self.config.math and not self.config.model:
            self.report.notes.append("no --model given: no self-distilled math data")
        return by_kind

    def filter(self, by_kind: dict[Kind, list[PoolItem]]) -> dict[Kind, list[PoolItem]]:
        everything = [item for kind in ("harmful", "benign", "math") for item in by_kind[kind]]
        kept, duplicates = remove_duplicates(everything)
        per_benchmark = evaluation_fingerprints(self.config.exclude_benchmarks, self.data, self.report)
        evaluation = self.split_aware(per_benchmark, by_kind)
        kept, overlaps = remove_overlaps(kept, evaluation)
        self.exclusions += duplicates + overlaps
        self.evaluation = evaluation
        limits = {"harmful": self.config.limit_harmful, "benign": self.config.limit_benign, "math": self.config.limit_math}
        out: dict[Kind, list[PoolItem]] = {}
        for kind in ("harmful", "benign", "math"):
            items = [i for i in kept if i.kind == kind]
            out[kind] = _stratified_sample(items, limits[kind], self.config.seed)
            left = len(items) - len(out[kind])
            if left:
                self.report.notes.append(f"{kind}: {left} prompts not used (--limit-{kind} {limits[kind]})")
        self.report.excluded = dict(sorted(Counter(e.reason for e in self.exclusions).items()))
        return out

    def split_aware(self, per_benchmark: dict[str, dict[str, str]], by_kind: dict[Kind, list[PoolItem]]) -> dict[str, str]:
        """fingerprint -> evaluation item, minus the training half of a split pool inside its own source benchmark.

        A benchmark is a split pool's source when 90% or more of its items are that pool's
        items (either half). There, the training half is expected to collide: `enhance
        compare --split` evaluates only the other half. Held-out items always count.
        """
        evaluation: dict[str, str] = {}
        for pool, heldout in self.heldout.items():
            source = {i.pool for i in heldout}
            train = [i for kind in by_kind.values() for i in kind if i.pool in source]
            train_fps = {i.fingerprint for i in train}
            everything = train_fps | {i.fingerprint for i in heldout}
            for name, fps in per_benchmark.items():
                if fps and len(everything & set(fps)) >= 0.9 * len(fps):
                    for fp in train_fps:
                        fps.pop(fp, None)
                    self.report.notes.append(
                        f"{name} is the source of split pool {pool}: its training half is left out of the overlap "
                        "check; run `enhance compare --split OUT/split.json` to evaluate the held-out half only"
                    )
            for item in heldout:
                evaluation.setdefault(item.fingerprint, f"{pool} held-out:{item.id}")
        for fps in per_benchmark.values():
            for fp, ref in fps.items():
                evaluation.setdefault(fp, ref)
        return evaluation

    async def sample(
        self, model: str, items: list[PoolItem], judges: list[str], params: GenerationParams, system: dict[str, str] | None
    ) -> list[SampleResult]:
        """Candidates for every item through the pipeline (cached, resumable), judged on both channels."""
        from thinksafe.pipeline import evaluate_async

        if not items:
            return []
        bench = PoolBenchmark(items, system=system, label=f"enhance-{items[0].kind}")
        options = self.config.model_options.model_copy(update={"markers": self.config.markers})
        _, results = await evaluate_async(
            model, bench, judges=judges, judge_model=self.config.judge_model, params=params, model_options=options,
            store=self.store, progress=self.progress, console=self.console, data_dir=self.config.data_dir,
        )
        return results

    def judge_label(self, spec: str) -> str:
        """The name a judge's verdicts are stored under (`name=MODEL` for judges that use a model)."""
        from thinksafe.pipeline import JudgeSpec

        return JudgeSpec.parse(spec, self.config.judge_model).label

    async def teacher_records(self, by_kind: dict[Kind, list[PoolItem]], items_by_id: dict[str, PoolItem]) -> list[dict]:
        config = self.config
        if (by_kind["harmful"] or by_kind["benign"]) and not config.teacher:
            raise ValueError("harmful and benign prompts need a teacher model: pass --teacher SPEC")
        system = config.system_prompt or guidance_prompts()
        params = config.teacher_params.model_copy(update={"n": config.teacher_samples})
        safety = list(dict.fromkeys(config.judges))
        safety_labels = [self.judge_label(j) for j in safety]
        guidance = config.guidance_judge
        guidance_label = self.judge_label(guidance) if guidance else None
        teacher = config.teacher or ""

        def grade_of(result: SampleResult) -> str | None:
            judgement = result.judgement(guidance_label, "answer") if guidance_label else None
            return judgement.label if judgement is not None else None

        harmful_judges = safety + ([guidance] if guidance and guidance not in safety else [])
        results = await self.sample(teacher, by_kind["harmful"], harmful_judges, params, system)
        kept, report = select(results, lambda r: judge_harmful(r, safety_labels, guidance_label), "harmful", grade_of if guidance else None)
        self.report.sampling.append(report)
        records = [to_record(items_by_id[r.sample.id], r, teacher, grade_of(r), config.markers) for r in kept]

        results = await self.sample(teacher, by_kind["benign"], safety, params, system)
        kept, report = select(results, lambda r: judge_benign(r, safety_labels), "benign")
        self.report.sampling.append(report)
        return records + [to_record(items_by_id[r.sample.id], r, teacher, None, config.markers) for r in kept]

    async def math_records(self, items: list[PoolItem], items_by_id: dict[str, PoolItem], safety_count: int) -> list[dict]:
        config = self.config
        if not config.model or not items:
            return []
        params = config.math_params.model_copy(update={"n": config.math_samples})
        results = await self.sample(config.model, items, ["math-answer"], params, None)
        kept, report = select(results, lambda r: judge_math(r, "math-answer"), "math")
        self.report.sampling.append(report)
        target = round(config.math_ratio * safety_count) if safety_count else len(kept)
        self.report.math_target = target
        if len(kept) > target:
            chosen = set(random.Random(config.seed).sample(range(len(kept)), target))
            kept = [r for i, r in enumerate(kept) if i in chosen]
        elif len(kept) < target:
            self.report.notes.append(f"math: {len(kept)} verified solutions, fewer than the {target} the ratio asks for")
        return [to_record(items_by_id[r.sample.id], r, config.model, None, config.markers) for r in kept]

    async def run(self) -> DataReport:
        by_kind = self.filter(self.read_pools())
        items_by_id = {i.id: i for kind in by_kind.values() for i in kind}
        with Store(self.config.store or _default_store()) as self.store:
            records = await self.teacher_records(by_kind, items_by_id)
            records += await self.math_records(by_kind["math"], items_by_id, len(records))
        return self.write(records)

    def write(self, records: list[dict]) -> DataReport:
        config = self.config
        out = config.out
        out.mkdir(parents=True, exist_ok=True)
        random.Random(config.seed).shuffle(records)
        train, held = seeded_split(records, config.eval_fraction, config.seed)
        for name, rows in (("train.jsonl", train), ("eval.jsonl", held)):
            with (out / name).open("w", encoding="utf-8") as handle:
                for row in rows:
                    handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        with (out / "excluded.jsonl").open("w", encoding="utf-8") as handle:
            for exclusion in self.exclusions:
                handle.write(exclusion.model_dump_json() + "\n")
        prompt_fps = [fingerprint(r["messages"][-2]["content"]) for r in records]
        heldout_ids = {pool: [i.id for i in items] for pool, items in self.heldout.items()}
        # a split pool's whole training half is kept out of evaluation, so its evaluation set is exactly the other half
        train_fps = sorted(set(prompt_fps) | self.reserved)
        SplitRecord(seed=config.seed, train_fingerprints=train_fps, heldout_ids=heldout_ids).save(out / "split.json")
        self.report.records = dict(sorted(Counter(r["kind"] for r in records).items()))
        self.report.languages = dict(sorted(Counter(r["lang"] for r in records).items()))
        self.report.train, self.report.eval = len(train), len(held)
        self.report.overlap_after_split = check_disjoint(prompt_fps, self.evaluation)
        (out / "report.json").write_text(self.report.model_dump_json(indent=2), encoding="utf-8")
        return self.report


def _default_store() -> Path:
    from thinksafe.pipeline import default_store_path

    return default_store_path()


def _stratified_sample(items: list[PoolItem], limit: int | None, seed: int) -> list[PoolItem]:
    from thinksafe.benchmarks.base import stratified_limit
    from thinksafe.schema import Sample

    if limit is None or limit >= len(items):
        return items
    proxies = [Sample(id=i.id, benchmark=i.pool, messages=[Message(role="user", content="-")], category=[i.pool, i.category]) for i in items]
    chosen = {s.id for s in stratified_limit(proxies, limit, lambda s: "/".join(s.category), seed)}
    return [i for i in items if i.id in chosen]
