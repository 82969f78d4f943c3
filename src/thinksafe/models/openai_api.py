"""Any OpenAI-compatible server (vLLM, SGLang, Ollama, DeepSeek API) over HTTP.

Retries with exponential backoff on 429, 5xx, timeouts and dropped connections, honouring
Retry-After, are the openai client's own; a request that still fails becomes a completion
with ``error`` set, so it is stored and retried on the next run rather than dropped.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import openai

from thinksafe.models.base import Model, ModelOptions, register_backend
from thinksafe.reasoning import split_reasoning
from thinksafe.schema import Completion, GenerationRequest


def _reasoning_field(message: Any) -> str | None:
    """Servers name the separate thinking `reasoning_content` (DeepSeek, vLLM) or `reasoning`."""
    extra = getattr(message, "model_extra", None) or {}
    for name in ("reasoning_content", "reasoning"):
        value = getattr(message, name, None) or extra.get(name)
        if isinstance(value, str) and value:
            return value
    return None


@register_backend("openai")
class OpenAIModel(Model):
    def __init__(self, name: str, options: ModelOptions):
        super().__init__(name, options)
        base_url = options.base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ValueError(f"openai:{name} needs a server: pass --base-url URL or write openai:{name}@URL")
        # The key is read from the environment and handed to the client only; it is never
        # part of a spec, a cache key, a log line or a report.
        api_key = os.environ.get(options.api_key_env) or "EMPTY"
        self.base_url = base_url
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, max_retries=options.max_retries, timeout=options.timeout_s
        )
        self._limit = asyncio.Semaphore(options.concurrency)

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        tasks = [asyncio.ensure_future(self._one(i, r)) for i, r in enumerate(requests)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    async def _one(self, index: int, request: GenerationRequest) -> tuple[int, Completion]:
        async with self._limit:
            started = time.perf_counter()
            try:
                completion = await self._call(request)
            except openai.APIError as error:
                completion = Completion(error=f"{type(error).__name__}: {_describe(error)}")
            except Exception as error:  # noqa: BLE001 - any failure is recorded, never dropped
                completion = Completion(error=f"{type(error).__name__}: {error}")
            completion.latency_s = time.perf_counter() - started
            return index, completion

    async def _call(self, request: GenerationRequest) -> Completion:
        params = request.params
        sampling: dict[str, Any] = {"max_tokens": params.max_new_tokens, "temperature": params.temperature}
        if params.temperature > 0:
            sampling.update(top_p=params.top_p, seed=params.seed + request.sample_index)
        if request.raw_prompt is not None:
            reply = await self._client.completions.create(model=self.name, prompt=request.raw_prompt, **sampling)
            choice = reply.choices[0]
            text, reasoning_content = choice.text or "", None
        else:
            messages = [m.model_dump() for m in request.messages]
            reply = await self._client.chat.completions.create(model=self.name, messages=messages, **sampling)
            choice = reply.choices[0]
            text = choice.message.content or ""
            reasoning_content = _reasoning_field(choice.message)
        split = split_reasoning(text, reasoning_content=reasoning_content, markers=self.options.markers)
        usage = reply.usage
        return Completion(
            text=text,
            reasoning=split.reasoning,
            answer=split.answer,
            reasoning_truncated=split.truncated,
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _describe(error: openai.APIError) -> str:
    status = getattr(error, "status_code", None)
    message = str(getattr(error, "message", error))[:500]
    return f"HTTP {status}: {message}" if status else message
