"""The one interface every model backend implements, and spec-string parsing."""

from __future__ import annotations

import abc
import os
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from thinksafe.errors import ThinksafeError
from thinksafe.reasoning import DEFAULT_MARKERS, ThinkingMarkers
from thinksafe.schema import Completion, GenerationRequest


class ModelLoadError(ThinksafeError, RuntimeError):
    """A model could not be loaded; the message says what to do instead."""


class VLLMEngineOptions(BaseModel):
    """Engine settings of the in-process `vllm:` backend; None leaves vLLM's own default.

    Given in the spec as `vllm:<id or path>#key=value,...` (e.g.
    `vllm:DIR#tensor_parallel_size=2,max_model_len=16384`) or set here; like every ModelOptions
    field they are not part of cache keys.
    """

    model_config = ConfigDict(extra="forbid")

    tensor_parallel_size: int | None = Field(None, ge=1, description="GPUs each layer is split over")
    pipeline_parallel_size: int | None = Field(None, ge=1, description="GPUs the layers are staged over")
    data_parallel_size: int | None = Field(None, ge=1, description="engine replicas; vLLM's LLM() accepts only 1 "
                                           "(for more: `vllm serve --data-parallel-size N` and openai:)")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="fraction of GPU memory vLLM "
                                                 "takes (CPU builds: of RAM); default $THINKSAFE_VLLM_GPU_MEMORY")
    max_model_len: int | None = Field(None, ge=1, description="context length (prompt + new tokens); longer prompts "
                                      "are recorded as errors, new tokens capped to fit")
    enable_prefix_caching: bool | None = Field(None, description="reuse the KV cache of shared prompt prefixes")
    reasoning_parser: str | None = Field(None, description="a vLLM reasoning parser name (deepseek_r1, qwen3, ...): "
                                         "its think tokens become the split markers; default the options' markers")
    dtype: str | None = Field(None, description="weights and activations: auto, float32, bfloat16, float16")
    enforce_eager: bool | None = Field(None, description="no CUDA graphs / compilation: faster start, slower decode")


class ModelOptions(BaseModel):
    """Backend options that do not change what a model says (so not part of cache keys)."""

    base_url: str | None = None
    base_urls: list[str] = Field(default_factory=list, description="more servers for the same model (openai:), "
                                 "requests spread over them with `base_url`; see canonical_spec for the cache identity")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="variable holding the API key; None sends no key")
    concurrency: int = Field(32, ge=1, description="requests in flight (server backends), per endpoint")
    max_retries: int = Field(6, ge=0, description="retries with backoff before a request is recorded as failed")
    timeout_s: float = Field(900.0, gt=0, description="deadline for each whole request attempt, in seconds")
    batch_size: int = Field(16, ge=1, description="prompts per batch (in-process backends)")
    device: str | None = None
    markers: ThinkingMarkers = DEFAULT_MARKERS
    vllm: VLLMEngineOptions = Field(default_factory=VLLMEngineOptions, description="in-process vllm: engine settings")

    def endpoints(self) -> list[str]:
        """`base_url` then `base_urls`, without trailing slashes or repeats (empty when neither is set)."""
        from thinksafe.models.endpoints import normalise_urls

        return normalise_urls([self.base_url, *self.base_urls])


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
    if scheme == "vllm":
        rest = rest.partition("#")[0]  # engine options (split_engine_options) are no part of the model's name
    return scheme, rest, base_url


def split_engine_options(spec: str) -> tuple[str, dict[str, str]]:
    """'vllm:DIR#tensor_parallel_size=2,max_model_len=8192' -> ('vllm:DIR', {...}); other specs unchanged."""
    if not spec.startswith("vllm:") or "#" not in spec:
        return spec, {}
    head, _, tail = spec.partition("#")
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in tail.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ModelLoadError(f"vllm engine option {part!r} in {spec!r} must look like key=value")
        options[key.strip()] = value.strip()
    return head, options


def apply_engine_options(options: ModelOptions, given: dict[str, str]) -> ModelOptions:
    """`options` with the spec's vllm engine options laid over its `vllm` field (a clear error for a bad one)."""
    if not given:
        return options
    merged = {**options.vllm.model_dump(exclude_none=True), **given}
    try:
        engine = VLLMEngineOptions.model_validate(merged)
    except ValidationError as error:
        known = ", ".join(VLLMEngineOptions.model_fields)
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '?'}: {e['msg']}" for e in error.errors())
        raise ModelLoadError(f"bad vllm engine option ({problems}); known: {known}") from None
    return options.model_copy(update={"vllm": engine})


def load_model(spec: str, options: ModelOptions | None = None) -> Model:
    """Build the backend a spec string names (importing it on first use)."""
    import importlib

    spec, engine_options = split_engine_options(spec)
    scheme, name, base_url = parse_spec(spec)
    options = apply_engine_options((options or ModelOptions()).model_copy(), engine_options)
    if base_url:  # a server named in the spec is the only one
        options.base_url, options.base_urls = base_url, []
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


POOLED = "*"  # the server part of the cache identity of a model served by several endpoints


def canonical_spec(spec: str, options: ModelOptions | None = None) -> str:
    """The spec as cached: an openai model includes its server so two servers never share results.

    A model given several endpoints (`ModelOptions.base_urls`, or --base-url more than once) is
    one model served several times: its identity is `openai:<model>@*`, whichever endpoint served
    a request and whatever the list, so adding, removing or reordering endpoints keeps every stored
    result. Only the model name then tells two pools apart: pools serving different weights under
    one name must use different stores. One endpoint keeps `openai:<model>@<url>` as before (a URL
    in the spec itself wins over the options, as in `load_model`), so going from one endpoint to
    several changes the identity once; start with two to let servers come and go from the first run.
    """
    scheme, name, base_url = parse_spec(spec)
    if scheme == "openai":
        urls = [base_url] if base_url else (options.endpoints() if options else [])
        if len(urls) > 1:
            return f"openai:{name}@{POOLED}"
        base_url = (urls[0] if urls else None) or os.environ.get("OPENAI_BASE_URL")
        return f"openai:{name}@{(base_url or '').rstrip('/')}"
    return f"{scheme}:{name}"
