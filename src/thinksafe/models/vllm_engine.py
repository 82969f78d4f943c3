"""`vllm:<hub id or path>[+<LoRA adapter dir>][#key=value,...]`: vLLM's offline engine in-process (optional extra).

Prompts are rendered with the model's own chat template and tokenized here exactly as the
`hf:` backend does (`hf.prepare_request`: no extra BOS, the same `<think>` detection), handed
to `vllm.LLM.generate` as token ids; the new token ids (less a final end-of-sequence token)
are decoded with the same tokenizer call as `hf:` and split into thinking and answer by the
same `split_reasoning`, so greedy `vllm:` and `hf:` runs of one model give the same
completions wherever their kernels give the same tokens. Requests go to vLLM in large chunks
so its own scheduler does the continuous batching; completions stream out chunk by chunk.

Engine settings (`ModelOptions.vllm`, or `#key=value` after the spec; see `VLLMEngineOptions`):
`tensor_parallel_size`, `pipeline_parallel_size`, `data_parallel_size` (vLLM's `LLM()` takes
only 1: serve with `vllm serve --data-parallel-size N` and use `openai:`),
`gpu_memory_utilization` (default `$THINKSAFE_VLLM_GPU_MEMORY`, else vLLM's), `max_model_len`,
`enable_prefix_caching`, `reasoning_parser` (a vLLM parser name; its think tokens become the
split markers, and vLLM gets it for structured output), `dtype`, `enforce_eager`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from thinksafe.models.base import Model, ModelLoadError, ModelOptions, register_backend
from thinksafe.models.hf import PreparedRequest, completion_from_text, prepare_request, template_notes
from thinksafe.reasoning import ThinkingMarkers
from thinksafe.schema import Completion, GenerationRequest

INSTALL_HINT = (
    "the vllm backend needs vLLM (Linux with a CUDA GPU): pip install 'thinksafe[vllm]'; "
    "or serve the model with `vllm serve MODEL` and pass --model openai:<name>@http://host:port/v1"
)
DATA_PARALLEL_HINT = (
    "for data parallelism serve the model with `vllm serve MODEL --data-parallel-size N` and pass "
    "--model openai:<name>@http://host:port/v1 (or run one thinksafe process per GPU)"
)
CHUNK = 2048
MEMORY_ENV = "THINKSAFE_VLLM_GPU_MEMORY"  # fraction of GPU memory vLLM may take (its default 0.92)
ENGINE_KEYS = ("tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size", "gpu_memory_utilization",
               "max_model_len", "enable_prefix_caching", "reasoning_parser", "dtype", "enforce_eager")


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ModelLoadError(INSTALL_HINT) from error
    return vllm


def engine_kwargs(base: str, options: ModelOptions) -> dict[str, Any]:
    """The keyword arguments for `vllm.LLM`: only the settings given, so vLLM's defaults stand otherwise."""
    kwargs: dict[str, Any] = {"model": base, "seed": 0}
    if os.environ.get(MEMORY_ENV):
        kwargs["gpu_memory_utilization"] = float(os.environ[MEMORY_ENV])
    engine = options.vllm
    for key in ENGINE_KEYS:
        value = getattr(engine, key)
        if value is not None:
            kwargs[key] = value
    return kwargs


def parser_markers(vllm: Any, name: str, tokenizer: Any) -> ThinkingMarkers:
    """The thinking markers of vLLM's reasoning parser `name` (e.g. deepseek_r1: <think> ... </think>)."""
    from vllm.reasoning import ReasoningParserManager

    try:
        parser = ReasoningParserManager.get_reasoning_parser(name)(tokenizer)
    except Exception as error:  # noqa: BLE001 - an unknown name, or a tokenizer without its tokens
        raise ModelLoadError(f"vLLM reasoning parser {name!r} cannot be used here: {error}") from error
    opened = getattr(parser, "start_token", None) or parser.reasoning_start_str
    closed = getattr(parser, "end_token", None) or parser.reasoning_end_str
    if not opened or not closed:
        raise ModelLoadError(f"vLLM reasoning parser {name!r} names no think start/end strings to split on; "
                             "leave reasoning_parser unset and give the markers instead")
    return ThinkingMarkers(open=opened, close=closed)


@register_backend("vllm")
class VLLMModel(Model):
    def __init__(self, name: str, options: ModelOptions):
        super().__init__(name, options)
        vllm = _import_vllm()
        self._vllm = vllm
        base, _, adapter = name.partition("+")
        kwargs = engine_kwargs(base, options)
        self._lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            kwargs["enable_lora"] = True
            self._lora = LoRARequest("adapter", 1, adapter)
        try:
            self.llm = vllm.LLM(**kwargs)
        except (OSError, ValueError) as error:
            hint = f"\n{DATA_PARALLEL_HINT}" if (options.vllm.data_parallel_size or 1) > 1 else ""
            raise ModelLoadError(f"vLLM could not load {base!r}: {error}{hint}") from error
        self.tokenizer = self.llm.get_tokenizer()
        self.notes = template_notes(self.tokenizer)
        self.markers = options.markers
        if options.vllm.reasoning_parser:
            self.markers = parser_markers(vllm, options.vllm.reasoning_parser, self.tokenizer)
        self.max_model_len = self._max_model_len()
        self.stop_ids = self._stop_ids()

    def _max_model_len(self) -> int | None:
        config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        value = getattr(config, "max_model_len", None)
        return value if isinstance(value, int) else self.options.vllm.max_model_len

    def _stop_ids(self) -> set[int]:
        """End-of-sequence ids (tokenizer and generation config) dropped from the end of an output, as `hf:` does."""
        ids = {getattr(self.tokenizer, "eos_token_id", None)}
        try:
            configured = self.llm.llm_engine.model_config.hf_config.eos_token_id
        except AttributeError:
            configured = None
        ids.update(configured if isinstance(configured, (list, tuple, set)) else [configured])
        return {i for i in ids if isinstance(i, int)}

    def _sampling(self, request: GenerationRequest, prompt_tokens: int = 0) -> Any:
        params = request.params
        max_tokens = params.max_new_tokens
        if self.max_model_len:
            max_tokens = max(1, min(max_tokens, self.max_model_len - prompt_tokens))
        if params.temperature > 0:
            return self._vllm.SamplingParams(max_tokens=max_tokens, temperature=params.temperature,
                                             top_p=params.top_p, seed=params.seed + request.sample_index)
        return self._vllm.SamplingParams(max_tokens=max_tokens, temperature=0.0)

    def prepare(self, requests: list[GenerationRequest]) -> list[PreparedRequest]:
        """Each request as `hf:` would feed it: chat template (or raw prompt), token ids, opens-thinking flag."""
        return [prepare_request(self.tokenizer, i, r, self.markers) for i, r in enumerate(requests)]

    def run_chunk(self, prepared: list[PreparedRequest], requests: list[GenerationRequest]) -> list[tuple[list[int], bool]]:
        """Generate one chunk (blocking): per request the new token ids, less a final EOS, and whether it stopped."""
        inputs = [{"prompt_token_ids": p.input_ids} for p in prepared]
        sampling = [self._sampling(requests[p.index], len(p.input_ids)) for p in prepared]
        outputs = self.llm.generate(inputs, sampling, use_tqdm=False, lora_request=self._lora)
        results = []
        for output in outputs:
            best = output.outputs[0]
            tokens = list(best.token_ids)
            stopped = best.finish_reason == "stop"
            if stopped and tokens and tokens[-1] in self.stop_ids and getattr(best, "stop_reason", None) is None:
                tokens = tokens[:-1]  # vLLM keeps the EOS it stopped on; hf: drops it
            results.append((tokens, stopped))
        return results

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        prepared = self.prepare(requests)
        runnable = []
        for item in prepared:
            if not item.input_ids:
                yield item.index, Completion(error="empty prompt: nothing to generate from")
            elif self.max_model_len and len(item.input_ids) >= self.max_model_len:
                yield item.index, Completion(error=f"prompt of {len(item.input_ids)} tokens does not fit "
                                                   f"max_model_len={self.max_model_len}")
            else:
                runnable.append(item)
        for start in range(0, len(runnable), CHUNK):
            chunk = runnable[start : start + CHUNK]
            started = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(self.run_chunk, chunk, requests)
            except Exception as error:  # noqa: BLE001 - recorded per request, retried next run
                for item in chunk:
                    yield item.index, Completion(error=f"{type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - started
            for item, (tokens, stopped) in zip(chunk, outputs):
                yield item.index, completion_from_text(
                    self.tokenizer.decode(tokens, skip_special_tokens=True),
                    starts_in_thinking=item.starts_in_thinking, markers=self.markers, hit_stop=stopped,
                    prompt_tokens=len(item.input_ids), completion_tokens=len(tokens), latency_s=elapsed,
                )

    async def aclose(self) -> None:
        llm, self.llm = self.llm, None
        shutdown = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if shutdown is not None and hasattr(shutdown, "shutdown"):
            try:
                shutdown.shutdown()  # stop the engine-core process now, not at interpreter exit
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
