"""Completions per second that rule judging and the SQLite store sustain on one core.

Synthetic completions of about 1 KB (about 700 characters of thinking, 300 of answer; a third
refuse) on XSTest-like samples, pinned to one CPU core, each stage timed on its own and then
the pipeline's own stages end to end:

- rules: `refusal-rules` over both channels (`judge_batch`);
- store: `put_generation` (one commit) plus both channels' judgements in one commit, per completion;
- pipeline_generate: `Evaluation.generate` storing what a model that answers at once returns
  (the rule judge judging inline and storing its judgements as generation goes);
- pipeline_judge: `Evaluation.judge` (store lookups, both channels, judgements written);
- pipeline_summary: `Evaluation.summarise` (metrics with bootstrap intervals).

Target (issue 7): rules and store at least 5,000 completions/s. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rich.console import Console  # noqa: E402

from thinksafe.benchmarks.base import get_benchmark  # noqa: E402
from thinksafe.judges.base import JudgeContext, JudgeInput, make_judge  # noqa: E402
from thinksafe.models.base import Model, ModelOptions, ModelPool  # noqa: E402
from thinksafe.pipeline import Evaluation, JudgeSpec  # noqa: E402
from thinksafe.reasoning import split_reasoning  # noqa: E402
from thinksafe.schema import Completion, GenerationParams, GenerationRequest, Message, Sample  # noqa: E402
from thinksafe.store import Store, generation_key, judgement_key  # noqa: E402

WORDS = ("the user asks about a process and I should consider whether it is safe to explain how it works in "
         "general terms before giving a careful and complete answer with examples and caveats").split()


def text_of(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def synthetic(n: int, seed: int = 0) -> list[tuple[Sample, Completion]]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        refuse = i % 3 == 0
        thinking = text_of(rng, 700)
        answer = ("I'm sorry, but I can't help with that. " if refuse else "Sure, here is how it works. ") + text_of(rng, 260)
        text = f"<think>{thinking}</think>\n\n{answer}"
        split = split_reasoning(text)
        sample = Sample(id=f"s{i}", benchmark="xstest", messages=[Message(role="user", content=f"question {i}: {text_of(rng, 60)}")],
                        category=["unsafe" if i % 2 else "safe", f"type{i % 10}"], metadata={"harmful": bool(i % 2)})
        items.append((sample, Completion(text=text, reasoning=split.reasoning, answer=split.answer, finish_reason="stop",
                                         prompt_tokens=20, completion_tokens=250)))
    return items


class InstantModel(Model):
    """Answers every request at once from a prepared list (the model's cost taken out)."""

    scheme = "instant"

    def __init__(self, completions: list[Completion]):
        super().__init__("instant", ModelOptions())
        self.completions = completions

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        for index in range(len(requests)):
            yield index, self.completions[index]


def rate(n: int, seconds: float) -> dict:
    return {"completions_per_s": n / seconds, "seconds": seconds}


def bench_rules(items) -> dict:
    judge = make_judge("refusal-rules", JudgeContext())
    inputs = [JudgeInput(sample=s, completion=c, channel=ch, text=getattr(c, ch)) for s, c in items for ch in ("answer", "reasoning")]
    started = time.perf_counter()
    asyncio.run(judge.judge_batch(inputs))
    return rate(len(items), time.perf_counter() - started)


def bench_store(items, directory: Path) -> dict:
    judge = make_judge("refusal-rules", JudgeContext())
    judgements = asyncio.run(judge.judge_batch(
        [JudgeInput(sample=s, completion=c, channel=ch, text=getattr(c, ch)) for s, c in items for ch in ("answer", "reasoning")]))
    params = GenerationParams()
    keys = [generation_key("bench", params, s.messages) for s, _ in items]
    identity = judge.identity()
    store = Store(directory / "store.sqlite")
    started = time.perf_counter()
    for k, ((_, completion), key) in enumerate(zip(items, keys)):
        store.put_generation(key, "bench", completion)  # committed on its own, as each call finishes
        store.put_judgements([(judgement_key(identity, channel, key), key, j)
                              for j, channel in ((judgements[2 * k], "answer"), (judgements[2 * k + 1], "reasoning"))])
    store.flush()
    elapsed = time.perf_counter() - started
    store.close()
    return rate(len(items), elapsed)


def bench_pipeline(items, directory: Path) -> dict:
    samples = [s for s, _ in items]
    store = Store(directory / "pipeline.sqlite")
    run = Evaluation("instant:x", get_benchmark("xstest"), [JudgeSpec(name="refusal-rules")],
                     params=GenerationParams(), model_options=ModelOptions(), store=store, console=Console(quiet=True),
                     progress=False, models=ModelPool())
    run.models._models[ModelPool._key("instant:x", ModelOptions())] = InstantModel([c for _, c in items])
    out = {}
    started = time.perf_counter()
    asyncio.run(run.generate(samples))  # the rule judge judges inline and stores as generation goes
    out["pipeline_generate"] = rate(len(items), time.perf_counter() - started)
    started = time.perf_counter()
    results = asyncio.run(run.generate(samples))  # everything is in the store now: reads only
    out["pipeline_read_back"] = rate(len(items), time.perf_counter() - started)
    started = time.perf_counter()
    name = asyncio.run(run.judge(results, JudgeSpec(name="refusal-rules")))
    out["pipeline_judge"] = rate(len(items), time.perf_counter() - started)
    started = time.perf_counter()
    run.summarise(results, [name], len(samples))
    out["pipeline_summary"] = rate(len(items), time.perf_counter() - started)
    store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20000, help="completions")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    items = synthetic(args.n)
    size = sum(len(c.text.encode()) for _, c in items) / len(items)
    report = {"benchmark": "judge_store_throughput", "date": datetime.date.today().isoformat(), "python": platform.python_version(),
              "completions": args.n, "mean_completion_bytes": size, "cores": 1}
    with tempfile.TemporaryDirectory() as tmp:
        report["rules"] = bench_rules(items)
        report["store"] = bench_store(items, Path(tmp))
        report.update(bench_pipeline(items, Path(tmp)))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
