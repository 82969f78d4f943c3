"""The default solver: the sample's conversation sent to the target once per generation."""

from __future__ import annotations

from collections.abc import AsyncIterator

from thinksafe.schema import GenerationRequest, Sample, SampleResult
from thinksafe.solvers.base import Solver, SolverContext
from thinksafe.store import generation_key

REQUEST_SLICE = 8192  # requests built and sent per slice (in flight across a slice's end: the backend's concurrency)


class SingleTurn(Solver):
    results_in_store = True  # a result's completion is the stored generation itself
    async def stream(self, context: SolverContext, samples: list[Sample]) -> AsyncIterator[tuple[int, SampleResult]]:
        target = context.model("target")
        n = context.params.n
        by_position = [(s, k) for s in samples for k in range(n)]
        for start in range(0, len(by_position), REQUEST_SLICE):
            requests = [
                GenerationRequest(key=generation_key(target.spec, context.params, s.messages, k), messages=s.messages,
                                  params=context.params, sample_index=k)
                for s, k in by_position[start:start + REQUEST_SLICE]
            ]
            async for offset, completion in target.generate(requests):
                sample, k = by_position[start + offset]
                yield start + offset, SampleResult(sample=sample, sample_index=k, generation_key=requests[offset].key,
                                                   completion=completion)
        await context.finished_with(target)
