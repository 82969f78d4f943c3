"""The one interface every model backend implements, and spec-string parsing."""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from pydantic import BaseModel, Field

from thinksafe.errors import ThinksafeError
from thinksafe.reasoning import DEFAULT_MARKERS, ThinkingMarkers
from thinksafe.schema import Completion, GenerationRequest


class ModelLoadError(ThinksafeError, RuntimeError):
    """A model could not be loaded; the message says what to do instead."""


class ModelOptions(BaseModel):
    """Backend options that do not change what a model says (so not part of cache keys)."""

    base_url: str | None = None
    api_key_env: str | None = Field("OPENAI_API_KEY", description="variable holding the API key; None sends no key")
    concurrency: int = Field(32, ge=1, description="requests in flight (server backends)")
    max_retries: int = Field(6, ge=0, description="retries with backoff before a request is recorded as failed")
    timeout_s: float = Field(900.0, gt=0, description="deadline for each whole request attempt, in seconds")
    batch_size: int = Field(16, ge=1, description="prompts per batch (in-process backends)")
    device: str | None = None
    markers: ThinkingMarkers = DEFAULT_MARKERS


class Model(abc.ABC):
    """Many requests in, completions out; the backend decides batching and concurrency."""

    scheme: ClassVar[str]

    def __init__(self, name: str, options: ModelOptions):
        self.name = name
        self.options = options
        self.notes: list[str] = []  # what a run summary should say about this backend (e.g. a fallback template)

    @property
    def spec(self) -> str:
        """The identity used in cache keys: backend and model, not transport details."""
        return f"{self.scheme}:{self.name}"

    @abc.abstractmethod
    def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        """Yield (index into requests, completion) as each finishes; errors are completions too."""

    async def generate_all(self, requests: list[GenerationRequest]) -> list[Completion]:
        results: list[Completion | None] = [None] * len(requests)
        async for index, completion in self.generate(requests):
            results[index] = completion
        return [r if r is not None else Completion(error="no result") for r in results]

    async def aclose(self) -> None:
        """Release connections or GPU memory."""


_BACKENDS: dict[str, Callable[[str, ModelOptions], Model]] = {}


def register_backend(scheme: str) -> Callable[[type[Model]], type[Model]]:
    def decorate(cls: type[Model]) -> type[Model]:
        cls.scheme = scheme
        _BACKENDS[scheme] = cls
        return cls

    return decorate


def parse_spec(spec: str) -> tuple[str, str, str | None]:
    """'openai:m@http://h/v1' -> ('openai', 'm', 'http://h/v1'); 'hf:path' -> ('hf', 'path', None)."""
    scheme, sep, rest = spec.partition(":")
    if not sep or not rest:
        raise ValueError(f"model spec {spec!r} must look like hf:<id or path>, openai:<model>[@<base-url>] or vllm:<id>")
    base_url = None
    if scheme == "openai" and "@" in rest:
        rest, base_url = rest.split("@", 1)
    return scheme, rest, base_url


def load_model(spec: str, options: ModelOptions | None = None) -> Model:
    """Build the backend a spec string names (importing it on first use)."""
    import importlib

    scheme, name, base_url = parse_spec(spec)
    options = (options or ModelOptions()).model_copy()
    if base_url:
        options.base_url = base_url
    if scheme not in _BACKENDS:
        module = {"hf": "hf", "openai": "openai_api", "vllm": "vllm_engine"}.get(scheme)
        if module is None:
            raise ValueError(f"unknown model backend {scheme!r} in {spec!r}; known: hf, openai, vllm")
        importlib.import_module(f"thinksafe.models.{module}")
    return _BACKENDS[scheme](name, options)


IN_PROCESS_SCHEMES = frozenset({"hf", "vllm"})


class ModelPool:
    """Models loaded on first use and kept for the next run (a suite's members), closed together."""

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], Model] = {}

    @staticmethod
    def _key(spec: str, options: ModelOptions) -> tuple[str, str]:
        return spec, options.model_dump_json()

    def get(self, spec: str, options: ModelOptions) -> Model:
        key = self._key(spec, options)
        if key not in self._models:
            self._models[key] = load_model(spec, options)
        return self._models[key]

    async def release(self, spec: str, options: ModelOptions) -> None:
        """Close one model now (to free GPU memory for a judge model), if it was loaded."""
        model = self._models.pop(self._key(spec, options), None)
        if model is not None:
            await model.aclose()

    async def aclose(self) -> None:
        models, self._models = list(self._models.values()), {}
        for model in models:
            await model.aclose()


def canonical_spec(spec: str, options: ModelOptions | None = None) -> str:
    """The spec as cached: an openai model includes its server so two servers never share results."""
    scheme, name, base_url = parse_spec(spec)
    if scheme == "openai":
        base_url = base_url or (options.base_url if options else None) or os.environ.get("OPENAI_BASE_URL")
        return f"openai:{name}@{(base_url or '').rstrip('/')}"
    return f"{scheme}:{name}"
