"""Model roles behind the store: the one way any role (target, judge, victim, expansion) reaches a model.

A `CachedModel` reads what the store already holds, generates only what is missing, and
commits each finished call to the store as it arrives, so a run killed at any point repeats
only the calls that were in flight. Errors are stored too (they show in results) but are
generated again on the next run. `ModelRoles` hands out one `CachedModel` per (role, spec),
each with the options its role should have: notably its own API key (a judge on another host
never receives the target's key).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal
from urllib.parse import urlsplit

from thinksafe.models.base import Model, ModelOptions, ModelPool, canonical_spec, parse_spec
from thinksafe.schema import Completion, GenerationRequest
from thinksafe.store import Store, request_key

ModelRole = Literal["target", "judge", "victim", "expansion", "attacker"]


class CachedModel:
    """One model in one role: the store first, the backend for what is missing, each call committed."""

    def __init__(self, spec: str, options: ModelOptions, pool: ModelPool, store: Store):
        self.spec_text = spec
        self.options = options
        self.spec = canonical_spec(spec, options)  # the identity in cache keys
        self._pool = pool
        self._store = store
        self.notes: list[str] = []
        self.calls = 0  # requests sent to the backend by this role in this run

    @property
    def backend(self) -> Model:
        """The underlying backend, loaded (through the pool) on first use."""
        model = self._pool.get(self.spec_text, self.options)
        for note in model.notes:
            if note not in self.notes:
                self.notes.append(note)
        return model

    @property
    def tokenizer(self):  # noqa: ANN201 - whatever the backend holds (windowed judges count tokens with it)
        return getattr(self.backend, "tokenizer", None)

    def key(self, request: GenerationRequest) -> str:
        return request_key(self.spec, request)

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        """(index, completion) for every request: stored ones first, then each new one as it finishes."""
        keys = [self.key(r) for r in requests]
        stored = self._store.get_generations(set(keys))
        missing: list[int] = []
        for index, key in enumerate(keys):
            found = stored.get(key)
            if found is not None and not found.error:
                yield index, found
            else:
                missing.append(index)
        if not missing:
            return
        # Duplicate requests within one batch are sent once.
        waiting: dict[str, list[int]] = {}
        for index in missing:
            waiting.setdefault(keys[index], []).append(index)
        unique = [indices[0] for indices in waiting.values()]
        async for position, completion in self.backend.generate([requests[i] for i in unique]):
            key = keys[unique[position]]
            self.calls += 1
            self._store.put_generation(key, self.spec, completion)
            for index in waiting[key]:
                yield index, completion

    async def generate_all(self, requests: list[GenerationRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        async for index, completion in self.generate(requests):
            results[index] = completion
        return [r if r is not None else Completion(error="no result") for r in results]

    async def aclose(self) -> None:
        """Free the backend now (GPU memory for the next role); the store keeps everything."""
        await self._pool.release(self.spec_text, self.options)


def _host(spec: str, options: ModelOptions) -> str | None:
    """The server a spec talks to (None for in-process models)."""
    scheme, _, _ = parse_spec(spec)
    if scheme != "openai":
        return None
    base = canonical_spec(spec, options).split("@", 1)[1]
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else base or None


class ModelRoles:
    """Cached models by role, sharing one store and one pool of loaded backends."""

    def __init__(self, store: Store, pool: ModelPool, target_spec: str, target_options: ModelOptions,
                 api_key_envs: dict[str, str | None] | None = None):
        self.store = store
        self.pool = pool
        self.target_spec = target_spec
        self.target_options = target_options
        self.api_key_envs = dict(api_key_envs or {})
        self._models: dict[tuple[str, str], CachedModel] = {}

    def options_for(self, role: str, spec: str) -> ModelOptions:
        """The target's options, with the key this role may use.

        A role given its own key variable uses it. Otherwise a model on the target's own server
        shares the target's key, and a model anywhere else gets no key at all.
        """
        if role == "target":
            return self.target_options
        options = self.target_options
        if role in self.api_key_envs and self.api_key_envs[role]:
            return options.model_copy(update={"api_key_env": self.api_key_envs[role]})
        same_host = _host(spec, options) is not None and _host(spec, options) == _host(self.target_spec, self.target_options)
        return options if same_host else options.model_copy(update={"api_key_env": None})

    def get(self, role: str, spec: str) -> CachedModel:
        if role == "target" and spec == self.target_spec:
            options = self.target_options
        else:
            options = self.options_for(role, spec)
        key = (role, spec)
        if key not in self._models:
            self._models[key] = CachedModel(spec, options, self.pool, self.store)
        return self._models[key]

    def calls(self) -> dict[str, int]:
        """Backend calls made in this run, per role."""
        out: dict[str, int] = {}
        for (role, _), model in self._models.items():
            out[role] = out.get(role, 0) + model.calls
        return out
