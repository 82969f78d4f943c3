"""A solver turns samples into finished results, reaching models only through a narrow context.

A benchmark declares its solver (`Benchmark.solver()`: one turn by default); solver attacks
(thinksafe.attacks) run against the same context. The context hands out cached model roles
(every call stored and resumable), the target's parameters, and the run's notes.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from thinksafe.errors import ArgumentError
from thinksafe.schema import GenerationParams, GenerationRequest, Message, Sample, SampleResult

if TYPE_CHECKING:
    from thinksafe.models.cached import CachedModel, ModelRoles


class MissingRoleError(ArgumentError):
    """A solver or an attack needs a model in a role that has none."""


class SolverContext:
    """What a solver may reach: cached model roles, the target's parameters, notes for the run."""

    def __init__(self, roles: ModelRoles, target_spec: str, params: GenerationParams,
                 role_specs: dict[str, str] | None = None, notes: list[str] | None = None,
                 judge_models: list[str] | None = None, release_models: bool = False):
        self.roles = roles
        self.target_spec = target_spec
        self.params = params
        self.role_specs = dict(role_specs or {})
        self.notes = notes if notes is not None else []
        self.judge_models = list(judge_models or [])  # the specs of the run's model judges, in order
        self.release_models = release_models  # free each model after its stage (a judge loads one in process next)

    def model(self, role: str, who: str = "", spec: str | None = None) -> CachedModel:
        """The cached model of `role` ("target", "attacker", "judge", "victim", ...), or of `spec` in that role."""
        if role == "target" and spec is None:
            return self.roles.get("target", self.target_spec)
        spec = spec or self.role_specs.get(role)
        if not spec:
            raise MissingRoleError(f"{who or 'this run'} needs a model in the {role} role: pass --{role}-model SPEC")
        return self.roles.get(role, spec)

    def has_model(self, role: str) -> bool:
        return role == "target" or bool(self.role_specs.get(role))

    def add_note(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)

    def add_notes(self, notes: list[str]) -> None:
        for note in notes:
            self.add_note(note)

    async def finished_with(self, *models: CachedModel) -> None:
        """Record the models' notes; free them when a judge will load a model in process next."""
        for model in models:
            self.add_notes(model.notes)
            if self.release_models:
                await model.aclose()

    @staticmethod
    def request(messages: list[Message], params: GenerationParams, sample_index: int = 0,
                raw_prompt: str | None = None) -> GenerationRequest:
        """A request whose key the cached model fills in."""
        return GenerationRequest(key="", messages=messages, params=params, sample_index=sample_index, raw_prompt=raw_prompt)


class Solver(abc.ABC):
    """One result per (sample, generation index), streamed as each is finished."""

    results_in_store: bool = False  # True when each result's generation_key is its completion's key in the store

    @abc.abstractmethod
    def stream(self, context: SolverContext, samples: list[Sample]) -> AsyncIterator[tuple[int, SampleResult]]:
        """(position, result) as results finish; position = sample's index x context.params.n + generation index."""

    async def solve(self, context: SolverContext, samples: list[Sample]) -> list[SampleResult]:
        results: list[SampleResult | None] = [None] * (len(samples) * context.params.n)
        async for position, result in self.stream(context, samples):
            results[position] = result
        return [r for r in results if r is not None]
