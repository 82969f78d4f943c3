"""`--engine ray`: one-turn generation as Ray Data batch inference over N replicas of the target.

The requests and their cache keys are exactly those of `SingleTurn` (so a Ray run and a plain run
share every stored completion). What the store already holds is read first; only the missing
requests go through `ray.data.from_items(...).map_batches(Replica, concurrency=N, batch_size=B)`,
where each `Replica` actor loads the target once with thinksafe's own `load_model(spec, options)`
and generates a batch at a time. The DRIVER commits each completion to the store as result rows
stream back (one commit per completion, as `CachedModel` does), so a killed driver loses only what
was in flight; a killed worker is restarted and its batch retried by Ray Data (its actor pools
default to `max_restarts=-1`, `max_task_retries=-1`; a replica that fails to load the model is
given up after `DataContext.max_consecutive_actor_init_deaths`), and rows that still never come
back are reported as errors of this run (not stored) and generated on the next one.

Replica resources: `hf:` takes one CPU per replica (its torch threads), or one GPU per replica
when the cluster has GPUs; `vllm:` takes tensor x pipeline parallel GPUs per replica.

Ray's own vLLM processor (`ray.data.llm.vLLMEngineProcessorConfig` with `build_processor`, as
Ray 2.60 names it; there is no `build_llm_processor`) is not used: it needs vLLM and a GPU, neither
of which the development machine has, so it could not be run or tested here; and it renders and
tokenises prompts in its own chat-template/tokenize/detokenize stages, so its completions would not
be byte-for-byte those of thinksafe's `vllm:` backend under the same cache key. `vllm:` specs
therefore go through `Replica` with the `vllm` backend (thinksafe's prompt rendering, `<think>`
detection and splitting), which keeps the store interchangeable between Ray and plain runs.

Each replica tags its rows with its id and the time its batch took; `RaySolver.figures` holds the
completions, tokens and tokens/s per replica (also written to the run's notes).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from thinksafe.errors import ArgumentError
from thinksafe.models.base import ModelLoadError, ModelOptions, load_model, parse_spec
from thinksafe.schema import Completion, GenerationRequest, Sample, SampleResult
from thinksafe.solvers.base import Solver, SolverContext
from thinksafe.solvers.single_turn import SingleTurn
from thinksafe.store import generation_key

INSTALL_HINT = "--engine ray needs Ray Data: pip install 'thinksafe[ray]'"
REPLICA_START_S = 1800  # how long the replicas may take to start and load the model (a big one on a cluster)
LOST = "ray engine: the batch never came back from a replica ({}); it is generated again on the next run"


def require_ray() -> Any:
    """The `ray` module, or an ArgumentError (exit 2) saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ArgumentError(INSTALL_HINT) from None
    return ray


class Replica:
    """One Ray actor holding one loaded target; a batch of serialized requests in, completions out."""

    def __init__(self, spec: str, options_json: str):
        self.id = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.model = load_model(spec, ModelOptions.model_validate_json(options_json))

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        requests = [GenerationRequest.model_validate_json(text) for text in batch["request"]]
        started = time.perf_counter()
        completions = asyncio.run(self.model.generate_all(requests))
        elapsed = time.perf_counter() - started
        rows = len(requests)
        return {"key": list(batch["key"]), "completion": [c.model_dump_json() for c in completions],
                "replica": [self.id] * rows, "seconds": [elapsed / rows] * rows,
                "notes": ["\n".join(self.model.notes)] * rows}  # what a plain run's summary would say of the backend


def replica_resources(spec: str, options: ModelOptions, cluster: dict[str, float]) -> dict[str, float]:
    """Ray resources of one replica: GPUs for vllm: (tp x pp) and for hf: on a GPU cluster, else one CPU."""
    scheme = parse_spec(spec.partition("#")[0])[0]
    if scheme == "vllm":
        engine = options.vllm
        return {"num_gpus": float((engine.tensor_parallel_size or 1) * (engine.pipeline_parallel_size or 1))}
    if scheme == "hf" and cluster.get("GPU", 0) >= 1 and options.device in (None, "cuda"):
        return {"num_gpus": 1.0}
    return {"num_cpus": 1.0}


def ray_solver_for(declared: Solver, engine: dict | None, notes: list[str]) -> Solver:
    """The solver a run uses: `RaySolver` for the one-turn solver under engine ray, else `declared`."""
    if not engine or engine.get("name", "local") == "local":
        return declared
    if engine["name"] != "ray":
        raise ArgumentError(f"--engine must be local or ray, not {engine['name']!r}")
    solver = RaySolver(replicas=engine.get("replicas", 1), address=engine.get("address"),
                       batch_size=engine.get("batch_size"))
    if type(declared) is not SingleTurn:
        note = (f"engine ray: the benchmark runs its own {type(declared).__name__} dialogue, so its generation "
                "stays in this process")
        if note not in notes:
            notes.append(note)
        return declared
    return solver


class RaySolver(SingleTurn):
    """SingleTurn's requests and keys, the missing ones generated by N Ray Data replicas."""

    results_in_store = True

    def __init__(self, replicas: int = 1, address: str | None = None, batch_size: int | None = None):
        if replicas < 1:
            raise ArgumentError(f"--replicas must be >= 1, got {replicas}")
        self.ray = require_ray()  # before any model call
        self.replicas = replicas
        self.address = address
        self.batch_size = batch_size
        self.figures: dict[str, Any] = {}

    def _connect(self) -> bool:
        """Join or start Ray; True when this solver started it (and so shuts it down)."""
        if self.ray.is_initialized():
            return False
        kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": "WARNING", "log_to_driver": False}
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["num_cpus"] = os.cpu_count() or 1
        self.ray.init(**kwargs)
        return True

    async def stream(self, context: SolverContext, samples: list[Sample]) -> AsyncIterator[tuple[int, SampleResult]]:
        target = context.model("target")
        store = context.roles.store
        n = context.params.n
        by_position = [(s, k) for s in samples for k in range(n)]
        requests = [
            GenerationRequest(key=generation_key(target.spec, context.params, s.messages, k), messages=s.messages,
                              params=context.params, sample_index=k)
            for s, k in by_position
        ]

        def result(position: int, completion: Completion) -> tuple[int, SampleResult]:
            sample, k = by_position[position]
            return position, SampleResult(sample=sample, sample_index=k, generation_key=requests[position].key,
                                          completion=completion)

        waiting: dict[str, list[int]] = {}  # key -> positions (a duplicate request is sent once)
        for start in range(0, len(requests), 4096):
            part = requests[start:start + 4096]
            stored = store.get_generations({r.key for r in part})
            for offset, request in enumerate(part):
                found = stored.get(request.key)
                if found is not None and not found.error:
                    yield result(start + offset, found)
                else:
                    waiting.setdefault(request.key, []).append(start + offset)
        self.figures = {"engine": "ray", "replicas": self.replicas, "address": self.address or "local",
                        "requests": len(requests), "from_store": len(requests) - sum(map(len, waiting.values())),
                        "generated": 0, "lost": 0}
        if waiting:
            async for position, completion in self._generate(context, target, requests, waiting):
                yield result(position, completion)
        context.add_note(self._note())

    async def _generate(self, context: SolverContext, target: Any, requests: list[GenerationRequest],
                        waiting: dict[str, list[int]]) -> AsyncIterator[tuple[int, Completion]]:
        """Send the missing requests through the replicas; commit and yield each completion as it streams back."""
        started_ray = self._connect()
        store = context.roles.store
        options = target.options
        batch = self.batch_size or options.batch_size
        items = [{"key": key, "request": requests[positions[0]].model_dump_json()} for key, positions in waiting.items()]
        resources = replica_resources(target.spec_text, options, self.ray.cluster_resources())
        data = self.ray.data
        settings = data.DataContext.get_current()
        settings.enable_progress_bars = False  # the run's own progress bar is on stderr
        settings.print_on_execution_start = False
        settings.wait_for_min_actors_s = REPLICA_START_S  # all N replicas up before work is handed out
        # blocks of about B rows, at least one per replica, so every replica gets work and rows stream back
        blocks = min(len(items), max(self.replicas, math.ceil(len(items) / batch)))
        # Ray Data restarts a dead replica and retries its batch (max_restarts / max_task_retries -1 by default)
        dataset = data.from_items(items, override_num_blocks=blocks).map_batches(
            Replica, fn_constructor_args=(target.spec_text, options.model_dump_json()),
            compute=data.ActorPoolStrategy(size=self.replicas), batch_size=batch, **resources)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def drain() -> None:  # Ray's iterator blocks: it runs in a thread, rows go to the event loop
            try:
                for row in dataset.iter_rows():
                    loop.call_soon_threadsafe(queue.put_nowait, row)
                    if stop.is_set():
                        break
            except Exception as error:  # noqa: BLE001 - reported below; its rows stay missing
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        per_replica: dict[str, dict[str, float]] = {}
        wall = time.perf_counter()
        data_logger = logging.getLogger("ray.data")
        level = data_logger.level
        data_logger.setLevel(max(level, logging.WARNING))  # no INFO lines under the progress bar
        worker = loop.run_in_executor(None, drain)
        failure: BaseException | None = None
        try:
            while (row := await queue.get()) is not None:
                if isinstance(row, BaseException):
                    failure = row
                    continue
                key = row["key"]
                completion = Completion.model_validate_json(row["completion"])
                store.put_generation(key, target.spec, completion)  # committed at once: a killed driver resumes here
                target.calls += 1
                self.figures["generated"] += 1
                mine = per_replica.setdefault(row["replica"], {"completions": 0, "completion_tokens": 0, "busy_s": 0.0})
                mine["completions"] += 1
                mine["completion_tokens"] += completion.completion_tokens or 0
                mine["busy_s"] += float(row["seconds"])
                for note in filter(None, str(row.get("notes") or "").split("\n")):
                    context.add_note(note)
                for position in waiting.pop(key, []):
                    yield position, completion
        finally:
            stop.set()
            await worker
            data_logger.setLevel(level)
            if started_ray:
                self.ray.shutdown()
        self._figure_throughput(per_replica, time.perf_counter() - wall)
        if failure is not None:
            load_error = _load_error(failure)
            if load_error is not None and not self.figures["generated"]:
                raise ModelLoadError(f"ray engine: {load_error}") from None
            context.add_note(f"engine ray: {sum(map(len, waiting.values()))} requests never came back from the "
                             f"replicas ({_first_line(failure)}); they are generated again on the next run")
        self.figures["lost"] = sum(map(len, waiting.values()))
        for key, positions in waiting.items():
            for position in positions:
                yield position, Completion(error=LOST.format(_first_line(failure) if failure else "no row"))

    def _figure_throughput(self, per_replica: dict[str, dict[str, float]], wall_s: float) -> None:
        tokens = sum(r["completion_tokens"] for r in per_replica.values())
        for figures in per_replica.values():
            figures["busy_s"] = round(figures["busy_s"], 3)
            figures["tokens_per_s"] = round(figures["completion_tokens"] / figures["busy_s"], 2) if figures["busy_s"] else None
        self.figures.update(wall_s=round(wall_s, 3), completion_tokens=tokens,
                            tokens_per_s=round(tokens / wall_s, 2) if wall_s > 0 else None, per_replica=per_replica)

    def _note(self) -> str:
        f = self.figures
        head = (f"engine ray: {f['replicas']} replicas at {f['address']}; {f['generated']} generated, "
                f"{f['from_store']} from the store")
        if not f.get("per_replica"):
            return head
        rows = "; ".join(f"{rid} {r['completions']} completions {r['tokens_per_s']} tokens/s"
                         for rid, r in sorted(f["per_replica"].items()))
        return f"{head}, {f['tokens_per_s']} tokens/s overall ({rows})"


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"[:300]


def _load_error(error: BaseException) -> str | None:
    """The ModelLoadError message a replica raised while loading the target, if that is what failed."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 10:
        if isinstance(current, ModelLoadError):
            return str(current)
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else (current.__cause__ or current.__context__)
        seen += 1
    text = str(error)
    return text.rsplit("ModelLoadError: ", 1)[1].strip().splitlines()[0] if "ModelLoadError: " in text else None
