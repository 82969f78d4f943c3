"""evaluate(): benchmark -> attack -> model -> split -> judges -> metrics, every stage cached."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from thinksafe.attacks.base import Attack, AttackContext, AttackError, SolverAttack, apply_attacks, plan_attacks
from thinksafe.benchmarks.base import Benchmark, get_benchmark, load_samples, member_options, stratified_limit
from thinksafe.data import DataResolver, cache_dir
from thinksafe.judges.base import Judge, JudgeContext, JudgeInput, judge_chunks, make_judge
from thinksafe.lean import RESTORE_CHUNK, JudgementInterner, evict, restore, restored
from thinksafe.report.outputs import atomic_writer, suite_rows, write_outputs
from thinksafe.report.summary import data_file_records, summarise_run
from thinksafe.models.base import IN_PROCESS_SCHEMES, ModelOptions, ModelPool, canonical_spec, parse_spec
from thinksafe.models.cached import CachedModel, ModelRoles
from thinksafe.schema import (
    CHANNELS,
    Channel,
    GenerationParams,
    Judgement,
    RunSummary,
    Sample,
    SampleResult,
    SuiteSummary,
)
from thinksafe.sharding import mark_shard, shard_samples
from thinksafe.solvers.base import Solver, SolverContext
from thinksafe.solvers.single_turn import SingleTurn
from thinksafe.store import Store, judgement_key

INLINE_CHUNK = 64  # completions judged together by a model-free judge while generation goes on
LOOKUP_CHUNK = 4096  # stored judgements read back per query


class JudgeSpec(BaseModel):
    """`name` or `name=MODEL_SPEC` as given to --judge."""

    name: str
    model: str | None = None

    @classmethod
    def parse(cls, text: str, default_model: str | None = None) -> JudgeSpec:
        """The default judge model applies only to judges that use a model."""
        from thinksafe.judges.base import judge_names

        name, _, model = text.partition("=")
        name = name.strip()
        judge_cls = judge_names().get(name)
        if model.strip() or (judge_cls is not None and judge_cls.needs_model):
            return cls(name=name, model=model.strip() or default_model)
        return cls(name=name)

    @property
    def label(self) -> str:
        return self.name if not self.model else f"{self.name}={self.model}"


def default_store_path() -> Path:
    return Path(os.environ.get("THINKSAFE_STORE", cache_dir() / "store.sqlite"))


@contextmanager
def _progress(enabled: bool, console: Console) -> Iterator[Progress]:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not enabled, transient=False) as progress:
        yield progress


def channel_input(result: SampleResult, channel: Channel, judge: str) -> str | Judgement | None:
    """The text to judge, a derived unscored judgement, or None when the channel is absent.

    A failed generation is unscored in both channels (it must never leave a denominator).
    """
    completion = result.completion
    if completion.error:
        return Judgement(judge=judge, channel=channel, unscored_reason=f"generation failed: {completion.error}")
    if channel == "reasoning":
        if completion.reasoning is None or not completion.reasoning.strip():
            return None
        return completion.reasoning
    if completion.reasoning_truncated:
        return Judgement(judge=judge, channel=channel, unscored_reason="thinking truncated before the answer")
    return completion.answer


def _runs_inline(spec: JudgeSpec) -> bool:
    """A model-free (rule) judge is cheap: it runs while generation waits on the network."""
    from thinksafe.judges.base import judge_names

    judge_cls = judge_names().get(spec.name)
    return spec.model is None and judge_cls is not None and not judge_cls.needs_model


class Evaluation:
    """One run of one benchmark on one model; every model role reaches its model through the store."""

    def __init__(
        self,
        model: str,
        benchmark: Benchmark,
        judges: list[JudgeSpec],
        *,
        params: GenerationParams,
        model_options: ModelOptions,
        store: Store,
        console: Console,
        progress: bool,
        models: ModelPool,
        api_key_envs: dict[str, str | None] | None = None,
        attacks: list[Attack] | None = None,
        role_specs: dict[str, str] | None = None,
    ):
        self.model_spec = canonical_spec(model, model_options)
        self.model_text = model
        self.benchmark = benchmark
        self.judge_specs = judges
        self.params = params
        self.model_options = model_options
        self.store = store
        self.models = models
        self.roles = ModelRoles(store, models, model, model_options, api_key_envs)
        self.console = console
        self.show_progress = progress
        self.notes: list[str] = []
        self.inline_judges = [spec for spec in judges if _runs_inline(spec)]
        self.intern = JudgementInterner()
        self.attacks = list(attacks or plan_attacks(None))
        self.attack_context = AttackContext(self.roles, model, params, role_specs, self.notes)

    def model(self, role: str, spec: str | None = None) -> CachedModel:
        """The cached model of a role (the target's by default)."""
        return self.roles.get(role, spec or self.model_text)

    def add_notes(self, notes: list[str]) -> None:
        self.notes += [note for note in notes if note not in self.notes]

    def solver_context(self) -> SolverContext:
        return SolverContext(self.roles, self.model_text, self.params, self.attack_context.role_specs, self.notes,
                             judge_models=[spec.model for spec in self.judge_specs if spec.model],
                             release_models=self.judges_load_a_model())

    async def generate(self, samples: list[Sample], solver: Solver | None = None) -> list[SampleResult]:
        """Every sample's generations through the benchmark's solver (one turn by default). The
        model-free judges consume the results as they come; then a result whose completion is
        in the store goes lean (its texts stay in the store)."""
        solver = solver or self.benchmark.solver()
        results: list[SampleResult | None] = [None] * (len(samples) * self.params.n)
        ready: list[SampleResult] = []
        with _progress(self.show_progress, self.console) as progress:
            task = progress.add_task(escape(f"generating {self.benchmark.name} ({self.model_text})"), total=len(results))
            async for position, result in solver.stream(self.solver_context(), samples):
                results[position] = result
                progress.advance(task)
                ready.append(result)
                if len(ready) >= INLINE_CHUNK:
                    await self._judge_inline(ready, lean=solver.results_in_store)
                    ready = []
            await self._judge_inline(ready, lean=solver.results_in_store)
        return [r for r in results if r is not None]

    def judges_load_a_model(self) -> bool:
        """Whether a judge runs a model in this process (then the target is closed first, to free its memory)."""
        return any(spec.model is not None and parse_spec(spec.model)[0] in IN_PROCESS_SCHEMES for spec in self.judge_specs)

    async def _judge_inline(self, results: list[SampleResult], lean: bool = True) -> None:
        """Model-free judges judge completions as they arrive (the judge stage then finds them
        stored); then, when their completions are in the store, the results go lean."""
        if results:
            for spec in self.inline_judges:
                await self.judge(results, spec, show_progress=False)
            if lean:
                for result in results:
                    evict(result)

    def judge_context(self, spec: JudgeSpec) -> JudgeContext:
        return JudgeContext(judge_model=spec.model, model_options=self.model_options,
                            options=dict(self.benchmark.options), models=self.roles)

    async def judge(self, results: list[SampleResult], spec: JudgeSpec, show_progress: bool | None = None) -> str:
        """Judge both channels of every result and store each judgement; returns the judge's display name.

        Stored judgements are read back first, a slice at a time; what is left is judged a slice at
        a time too, with the texts of lean results read back from the store only for that slice.
        """
        judge = make_judge(spec.name, self.judge_context(spec))
        name = spec.label
        identity = judge.identity()
        pending: list[tuple[SampleResult, Channel, str]] = []
        for start in range(0, len(results), LOOKUP_CHUNK):
            work: list[tuple[SampleResult, Channel, str]] = []
            for result in results[start:start + LOOKUP_CHUNK]:
                slots = result.judgements.setdefault(name, {})
                for channel in CHANNELS:
                    done = slots.get(channel)
                    if done is not None and not done.transient:
                        continue  # judged inline while this run generated it
                    found = channel_input(result, channel, name)
                    if found is None:
                        continue
                    if isinstance(found, Judgement):
                        slots[channel] = found
                        continue
                    work.append((result, channel, judgement_key(identity, channel, result.generation_key)))
            stored = self.store.get_judgements(key for *_, key in work)
            for result, channel, key in work:
                cached = stored.get(key)
                if cached is not None and not cached.transient:
                    cached.judge = name
                    result.judgements[name][channel] = self.intern(cached)
                else:
                    pending.append((result, channel, key))
        try:
            show = self.show_progress if show_progress is None else show_progress
            await self._judge_pending(judge, name, pending, show)
        finally:
            await judge.aclose()
        return name

    async def _judge_pending(self, judge: Judge, name: str, pending: list, show_progress: bool = False) -> None:
        """Judge and store each judgement (a judge's model calls are stored one by one as they finish)."""
        if not pending:
            return
        with _progress(show_progress, self.console) as progress:
            task = progress.add_task(escape(f"judging {self.benchmark.name} ({name})"), total=len(pending))
            for start in range(0, len(pending), RESTORE_CHUNK):
                part = pending[start:start + RESTORE_CHUNK]
                with restored(list({id(r): r for r, _, _ in part}.values()), self.store):
                    inputs = [JudgeInput(sample=r.sample, completion=r.completion, channel=ch, text=channel_input(r, ch, name))
                              for r, ch, _ in part]
                    async for offset, judgements in judge_chunks(judge, inputs):
                        chunk = part[offset : offset + len(judgements)]
                        stored = []
                        for (result, channel, key), judgement in zip(chunk, judgements):
                            judgement.judge = name  # a judge returns fresh objects: no copy needed
                            result.judgements[name][channel] = self.intern(judgement)
                            stored.append((key, result.generation_key, judgement))
                        self.store.put_judgements(stored)
                        progress.advance(task, len(chunk))

    def summarise(
        self, results: list[SampleResult], judge_names: list[str], n_samples: int, data_files: list[dict] | None = None
    ) -> RunSummary:
        return summarise_run(self.benchmark, self.attacks, self.model_spec, self.params, self.notes, results,
                             judge_names, n_samples, data_files)


def build_benchmark(name: str, options: dict[str, str] | None, judge_model: str | None) -> Benchmark:
    """The benchmark with its options; it also hears of the judge model (benchmarks pick their LLM judge by it)."""
    options = dict(options or {})
    if judge_model is not None:
        options.setdefault("judge_model", judge_model)
    return get_benchmark(name, **options)


async def evaluate_async(
    model: str,
    benchmark: str | Benchmark,
    *,
    judges: list[str] | None = None,
    judge_model: str | None = None,
    limit: int | None = None,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    params: GenerationParams | None = None,
    model_options: ModelOptions | None = None,
    store: str | Path | Store | None = None,
    attacks: list[str] | None = None,
    seed: int = 0,
    progress: bool = False,
    console: Console | None = None,
    benchmark_options: dict[str, str] | None = None,
    models: ModelPool | None = None,
    role_api_key_envs: dict[str, str | None] | None = None,
    role_models: dict[str, str] | None = None,
    keep_texts: bool = True,
    shard: tuple[int, int] | None = None,
    engine: dict | None = None,
) -> tuple[RunSummary, list[SampleResult]]:
    """Evaluate `model` on `benchmark`; see `evaluate` for the synchronous form.

    `models`: a pool to load the target model from and leave it in (a suite passes one, so the
    model is loaded once for all its members); by default the model is closed when the run ends.
    `role_api_key_envs`: the environment variable holding each role's API key ("judge", "victim",
    "expansion", "attacker", "translator"); a role not named shares the target's key only when it talks
    to the target's server. `role_models`: the model spec of each role an attack uses ("attacker",
    "translator"; "judge" defaults to `judge_model`). `keep_texts=False` returns lean results (texts in
    the store only, see thinksafe.lean): what the CLI uses, so memory stays bounded on large runs.
    `shard=(i, n)`: only shard i of n (1-based) of the samples chosen, before attacks (thinksafe.sharding).
    `engine={"name": "ray", "replicas": N, "address": ADDR}`: one-turn generation as Ray Data batch
    inference over N replicas (thinksafe.solvers.ray_batch); None or name "local": in this process.
    """
    bench = build_benchmark(benchmark, benchmark_options, judge_model) if isinstance(benchmark, str) else benchmark
    specs = [JudgeSpec.parse(j, judge_model) for j in (judges or list(bench.default_judges))]
    console = console or Console(stderr=True)
    own_store = not isinstance(store, Store)
    db = Store(store or default_store_path()) if own_store else store
    pool = models or ModelPool()
    try:
        resolver = DataResolver(data_dir)
        samples = stratified_limit(load_samples(bench, resolver), limit, bench.stratum, seed)
        samples = shard_samples(samples, *shard) if shard else samples
        planned = plan_attacks(attacks)
        specs_by_role = {"judge": judge_model, **(role_models or {})}
        run = Evaluation(
            model, bench, specs, params=params or GenerationParams(), model_options=model_options or ModelOptions(),
            store=db, console=console, progress=progress, models=pool, api_key_envs=role_api_key_envs,
            attacks=planned, role_specs={role: spec for role, spec in specs_by_role.items() if spec},
        )
        # The benchmark declares how a sample becomes a conversation (one turn unless it says otherwise).
        declared = bench.solver()
        if engine and engine.get("name", "local") != "local":
            from thinksafe.solvers.ray_batch import ray_solver_for

            declared = ray_solver_for(declared, engine, run.notes)  # a benchmark's own dialogue stays local
        solvers = [a for a in planned if isinstance(a, SolverAttack)]
        if solvers and not isinstance(declared, SingleTurn):
            raise AttackError(f"benchmark {bench.name!r} runs its own dialogue; attack {solvers[0].label!r} cannot drive it")
        for solver in solvers:
            solver.check_roles(run.attack_context)  # a missing attacker model is found before any model call
        variants = apply_attacks(samples, planned)
        results = await run.generate(variants, declared) if variants else []
        for solver in solvers:
            results += await solver.solve(run.attack_context, samples)
        names = [await run.judge(results, spec) for spec in specs]
        summary = run.summarise(results, names, len(samples), data_file_records(bench, resolver))
        if shard:
            mark_shard(summary, *shard)
        if getattr(declared, "figures", None):  # per-replica throughput of a Ray run
            summary.extra["engine"] = declared.figures
        db.put_run(bench.name, run.model_spec, summary.model_dump_json())
        if out is not None:
            write_outputs(Path(out), summary, results, db)
        if keep_texts:
            restore(results, db)
    finally:
        if models is None:
            await pool.aclose()
        if own_store:
            db.close()
    return summary, results


def evaluate(model: str, benchmark: str | Benchmark, **kwargs) -> RunSummary:
    """Python API mirroring `thinksafe eval`; returns the run summary (results in OUT/results.jsonl)."""
    kwargs.setdefault("keep_texts", False)  # only the summary is returned
    summary, _ = asyncio.run(evaluate_async(model, benchmark, **kwargs))
    return summary


async def evaluate_suite_async(model: str, suite: str, *, out: str | Path | None = None, judges: list[str] | None = None, **kwargs) -> SuiteSummary:
    """Run every member benchmark; OUT/<benchmark>/ for each and OUT/summary.json for the suite."""
    from thinksafe.benchmarks.base import suite_names

    suite_cls = suite_names()[suite]
    combined = SuiteSummary(suite=suite, model=model, members=list(suite_cls.members))
    options = kwargs.pop("benchmark_options", None) or {}
    kwargs["attacks"] = kwargs.get("attacks") or list(suite_cls.attacks) or None
    models = ModelPool()
    try:
        for member in suite_cls.members:
            member_out = Path(out) / member if out is not None else None
            member_judges = judges or list(suite_cls.default_judges) or None
            # one option set for the whole suite: each member takes the keys it declares
            bench = build_benchmark(member, member_options(member, options), kwargs.get("judge_model"))
            summary, _ = await evaluate_async(model, bench, out=member_out, judges=member_judges, models=models,
                                              **{"keep_texts": False, **kwargs})
            combined.model = summary.model
            combined.rows += suite_rows(summary, bench.headline)
            combined.errors += summary.errors
            combined.params = combined.params or summary.params
            combined.notes[member] = list(summary.notes)
            combined.counts[member] = {
                "n": summary.n, "n_samples": summary.n_samples, "errors": summary.errors, "truncated": summary.truncated,
            }
            for error, count in summary.error_counts.items():
                combined.error_counts[error] = combined.error_counts.get(error, 0) + count
    finally:
        await models.aclose()
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        with atomic_writer(Path(out) / "summary.json") as handle:
            handle.write(combined.model_dump_json(indent=2))
    return combined
