"""`vllm:<hub id or path>[+<LoRA adapter dir>]`: vLLM's offline engine in-process (optional extra).

Prompts are rendered with the model's own chat template and tokenized here exactly as the
`hf:` backend does (no extra BOS), handed to `vllm.LLM.generate` as token ids, and the output
is split into thinking and answer the same way. Requests go to vLLM in large chunks so its own
scheduler does the continuous batching; completions stream out chunk by chunk.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from thinksafe.models.base import Model, ModelLoadError, ModelOptions, register_backend
from thinksafe.models.hf import completion_from_text, prepare_request, template_notes
from thinksafe.schema import Completion, GenerationRequest

INSTALL_HINT = (
    "the vllm backend needs vLLM (Linux with a CUDA GPU): pip install 'thinksafe[vllm]'; "
    "or serve the model with `vllm serve MODEL` and pass --model openai:<name>@http://host:port/v1"
)
CHUNK = 2048
MEMORY_ENV = "THINKSAFE_VLLM_GPU_MEMORY"  # fraction of GPU memory vLLM may take (its default 0.9)


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as error:
        raise ModelLoadError(INSTALL_HINT) from error
    return vllm


@register_backend("vllm")
class VLLMModel(Model):
    def __init__(self, name: str, options: ModelOptions):
        super().__init__(name, options)
        vllm = _import_vllm()
        self._vllm = vllm
        base, _, adapter = name.partition("+")
        kwargs: dict[str, Any] = {"model": base, "seed": 0}
        if os.environ.get(MEMORY_ENV):
            kwargs["gpu_memory_utilization"] = float(os.environ[MEMORY_ENV])
        self._lora = None
        if adapter:
            from vllm.lora.request import LoRARequest

            kwargs["enable_lora"] = True
            self._lora = LoRARequest("adapter", 1, adapter)
        try:
            self.llm = vllm.LLM(**kwargs)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"vLLM could not load {base!r}: {error}") from error
        self.tokenizer = self.llm.get_tokenizer()
        self.notes = template_notes(self.tokenizer)

    def _sampling(self, request: GenerationRequest) -> Any:
        params = request.params
        if params.temperature > 0:
            return self._vllm.SamplingParams(max_tokens=params.max_new_tokens, temperature=params.temperature,
                                             top_p=params.top_p, seed=params.seed + request.sample_index)
        return self._vllm.SamplingParams(max_tokens=params.max_new_tokens, temperature=0.0)

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        prepared = [prepare_request(self.tokenizer, i, r, self.options.markers) for i, r in enumerate(requests)]
        ids = [p.input_ids for p in prepared]
        opens = [p.starts_in_thinking for p in prepared]
        for start in range(0, len(requests), CHUNK):
            chunk = range(start, min(start + CHUNK, len(requests)))
            inputs = [{"prompt_token_ids": ids[i]} for i in chunk]
            sampling = [self._sampling(requests[i]) for i in chunk]
            started = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(
                    self.llm.generate, inputs, sampling, use_tqdm=False, lora_request=self._lora
                )
            except Exception as error:  # noqa: BLE001 - recorded per request, retried next run
                for i in chunk:
                    yield i, Completion(error=f"{type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - started
            for i, output in zip(chunk, outputs):
                best = output.outputs[0]
                yield i, completion_from_text(
                    best.text, starts_in_thinking=opens[i], markers=self.options.markers,
                    hit_stop=best.finish_reason == "stop", prompt_tokens=len(ids[i]),
                    completion_tokens=len(best.token_ids), latency_s=elapsed,
                )

    async def aclose(self) -> None:
        self.llm = None
