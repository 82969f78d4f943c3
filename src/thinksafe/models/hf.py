"""In-process Hugging Face transformers models (the embedded default backend).

`hf:<hub id or local path>` loads the model with its own chat template; `hf:<base>+<adapter
dir>` applies a PEFT (LoRA) adapter and merges it into the weights. Generation runs in a worker
thread so the event loop stays free, on one of two engines:

- `paged` (the default for Llama-family models: Llama, Qwen2 and so the R1 distills, Mistral):
  continuous batching over a paged KV cache with CUDA graphs (`thinksafe.engine`); a finished
  sequence's row is refilled at once and completions stream out as each finishes;
- `static` (any other architecture, or THINKSAFE_HF_ENGINE=static): prompts of similar length
  batched through `model.generate`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from thinksafe.models.base import Model, ModelLoadError, ModelOptions, register_backend
from thinksafe.models.hf_loading import load_hf
from thinksafe.reasoning import ThinkingMarkers, prompt_opens_thinking, split_reasoning
from thinksafe.schema import Completion, GenerationParams, GenerationRequest, Message

FALLBACK_NOTE = "the tokenizer has no chat template; prompts use a plain 'Role: text' layout"
ENGINE_ENV = "THINKSAFE_HF_ENGINE"  # auto (default), paged or static


def render_prompt(tokenizer: Any, messages: list[Message], chat_template_kwargs: dict[str, Any] | None = None) -> str:
    """The model's own chat template, ending with the assistant's generation prompt; `chat_template_kwargs`
    are extra template variables (Qwen3 reads `enable_thinking`; a template that does not read one ignores it)."""
    dicts = [m.model_dump() for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True,
                                             **(chat_template_kwargs or {}))
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


def completion_from_text(text: str, *, starts_in_thinking: bool, markers: ThinkingMarkers, hit_stop: bool,
                         prompt_tokens: int, completion_tokens: int, latency_s: float) -> Completion:
    """A local engine's decoded output as a Completion with thinking and answer split apart."""
    split = split_reasoning(text, starts_in_thinking=starts_in_thinking, markers=markers)
    return Completion(
        text=text,
        reasoning=split.reasoning,
        answer=split.answer,
        reasoning_truncated=split.truncated,
        finish_reason="stop" if hit_stop else "length",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_s=latency_s,
    )


@dataclass
class PreparedRequest:
    index: int
    input_ids: list[int]
    params: GenerationParams
    sample_index: int
    starts_in_thinking: bool


def raw_prompt_in_thinking(prompt: str, markers: ThinkingMarkers) -> bool:
    """A pre-formatted prompt that ends inside an opened thinking block: its last open marker comes after its
    last close marker (a prefilled or continued thinking: `...<think>\nFirst, ...`)."""
    opened = prompt.rfind(markers.open)
    return opened != -1 and opened > prompt.rfind(markers.close)


def prepare_request(tokenizer: Any, index: int, request: GenerationRequest, markers: ThinkingMarkers) -> PreparedRequest:
    """The prompt as the model sees it (its chat template, or the raw prompt), tokenised; does it open thinking?"""
    if request.raw_prompt is not None:
        prompt = request.raw_prompt
        opens = prompt_opens_thinking(prompt, markers) or raw_prompt_in_thinking(prompt, markers)
    else:
        prompt = render_prompt(tokenizer, request.messages, request.chat_template_kwargs)
        opens = prompt_opens_thinking(prompt, markers)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return PreparedRequest(index, ids, request.params, request.sample_index, opens)


def template_notes(tokenizer: Any) -> list[str]:
    return [] if getattr(tokenizer, "chat_template", None) else [FALLBACK_NOTE]


class StaticBatchEngine:
    """Batches prompts of similar length and calls `model.generate` on each batch."""

    def __init__(self, tokenizer: Any, model: Any, batch_size: int):
        self.tokenizer = tokenizer
        self.model = model
        self.batch_size = batch_size

    def batches(self, prepared: list[PreparedRequest]) -> list[list[PreparedRequest]]:
        """Group by generation params, then by prompt length, longest first."""
        groups: dict[GenerationParams, list[PreparedRequest]] = {}
        for item in prepared:
            groups.setdefault(item.params, []).append(item)
        out: list[list[PreparedRequest]] = []
        for items in groups.values():
            items.sort(key=lambda p: len(p.input_ids), reverse=True)
            out.extend(items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size))
        return out

    def run_batch(self, batch: list[PreparedRequest]) -> list[tuple[list[int], bool]]:
        """Generate for one batch: (new token ids, hit EOS) per request."""
        import torch

        params = batch[0].params
        pad = self.tokenizer.pad_token_id
        width = max(len(p.input_ids) for p in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            ids[row, width - len(item.input_ids) :] = torch.tensor(item.input_ids)
            mask[row, width - len(item.input_ids) :] = 1
        device = next(self.model.parameters()).device
        kwargs: dict[str, Any] = {"max_new_tokens": params.max_new_tokens, "pad_token_id": pad}
        if params.temperature > 0:
            torch.manual_seed(params.seed + batch[0].sample_index)
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            output = self.model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), **kwargs)
        eos = eos_ids(self.tokenizer, self.model)
        results = []
        for row in output[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in eos), None)
            results.append((row[:cut] if cut is not None else row, cut is not None))
        return results


class PagedEngineRunner:
    """Builds a `PagedEngine` sized for each call's longest request and streams its results."""

    def __init__(self, tokenizer: Any, model: Any, options: ModelOptions):
        self.tokenizer = tokenizer
        self.model = model
        self.options = options
        self.engine: Any = None

    def _engine_for(self, max_len: int, seed: int) -> Any:
        import torch

        from thinksafe.engine.paged import EngineConfig, PagedEngine

        if self.engine is not None and self.engine.max_len >= max_len:
            self.engine.generator.manual_seed(seed)
            return self.engine
        self.engine = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        cuda = next(self.model.parameters()).device.type == "cuda"
        config = EngineConfig(max_rows=None if cuda else max(1, self.options.batch_size), seed=seed)
        self.engine = PagedEngine(self.model, config, max_len=-(-max_len // 1024) * 1024)
        return self.engine

    def run(self, prepared: list[PreparedRequest], emit: Callable[[int, list[int], bool, float], None],
            should_stop: Callable[[], bool]) -> None:
        """Generate every prepared request; `emit(index, tokens, hit_stop, latency)` as each finishes."""
        from thinksafe.engine.paged import EngineRequest

        stops = frozenset(eos_ids(self.tokenizer, self.model))
        engine = self._engine_for(max(len(p.input_ids) + p.params.max_new_tokens for p in prepared), prepared[0].params.seed)
        requests = [
            EngineRequest(index=p.index, prompt_ids=p.input_ids, max_new_tokens=p.params.max_new_tokens,
                          temperature=p.params.temperature, top_p=p.params.top_p, stop_ids=stops)
            for p in prepared
        ]
        engine.run(requests, lambda r: emit(r.index, r.tokens, r.hit_stop, r.latency_s), should_stop)


def eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return {i for i in ids if i is not None}


def choose_engine(tokenizer: Any, model: Any, options: ModelOptions) -> tuple[Any, list[str]]:
    """The paged engine where it can run the model, else the static one; with a note saying why."""
    from thinksafe.engine.model import unsupported_reason

    wanted = os.environ.get(ENGINE_ENV, "auto")
    if wanted not in {"auto", "paged", "static"}:
        raise ValueError(f"{ENGINE_ENV} must be auto, paged or static, not {wanted!r}")
    reason = unsupported_reason(model)
    if wanted == "paged" and reason:
        raise ModelLoadError(f"{ENGINE_ENV}=paged, but the paged engine cannot run this model: {reason}")
    if wanted == "static" or reason:
        notes = [f"hf: generation uses static batches of model.generate ({reason})"] if reason else []
        return StaticBatchEngine(tokenizer, model, options.batch_size), notes
    return PagedEngineRunner(tokenizer, model, options), []


@register_backend("hf")
class HFModel(Model):
    def __init__(self, name: str, options: ModelOptions):
        super().__init__(name, options)
        self.tokenizer, self.model = load_hf(name, options.device)
        self.notes = template_notes(self.tokenizer)
        self.engine, notes = choose_engine(self.tokenizer, self.model, options)
        self.notes += notes

    def prepare(self, index: int, request: GenerationRequest) -> PreparedRequest:
        return prepare_request(self.tokenizer, index, request, self.options.markers)

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        prepared = [self.prepare(i, r) for i, r in enumerate(requests)]
        for item in prepared:
            if not item.input_ids:
                yield item.index, Completion(error="empty prompt: nothing to generate from")
        prepared = [p for p in prepared if p.input_ids]
        if not prepared:
            return
        if isinstance(self.engine, StaticBatchEngine):
            async for pair in self._generate_static(prepared):
                yield pair
        else:
            async for pair in self._generate_streaming(prepared):
                yield pair

    async def _generate_static(self, prepared: list[PreparedRequest]) -> AsyncIterator[tuple[int, Completion]]:
        for batch in self.engine.batches(prepared):
            started = time.perf_counter()
            try:
                outputs = await asyncio.to_thread(self.engine.run_batch, batch)
            except Exception as error:  # noqa: BLE001 - recorded per request, retried next run
                for item in batch:
                    yield item.index, Completion(error=f"{type(error).__name__}: {error}")
                continue
            elapsed = time.perf_counter() - started
            for item, (tokens, hit_eos) in zip(batch, outputs):
                yield item.index, self._completion(item, tokens, hit_eos, elapsed)

    async def _generate_streaming(self, prepared: list[PreparedRequest]) -> AsyncIterator[tuple[int, Completion]]:
        """Run the engine in a thread; yield each completion as its sequence finishes."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()
        by_index = {p.index: p for p in prepared}

        def emit(index: int, tokens: list[int], hit_stop: bool, latency: float) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (index, tokens, hit_stop, latency))

        def work() -> None:
            try:
                self.engine.run(prepared, emit, stop.is_set)
            except Exception as error:  # noqa: BLE001 - unfinished requests become error completions
                loop.call_soon_threadsafe(queue.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = loop.run_in_executor(None, work)
        pending = set(by_index)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, Exception):
                    for index in sorted(pending):
                        yield index, Completion(error=f"{type(item).__name__}: {item}")
                    pending.clear()
                    continue
                index, tokens, hit_stop, latency = item
                pending.discard(index)
                yield index, self._completion(by_index[index], tokens, hit_stop, latency)
        finally:
            stop.set()
            await worker

    def _completion(self, item: PreparedRequest, tokens: list[int], hit_eos: bool, elapsed: float) -> Completion:
        return completion_from_text(
            self.tokenizer.decode(tokens, skip_special_tokens=True),
            starts_in_thinking=item.starts_in_thinking, markers=self.options.markers, hit_stop=hit_eos,
            prompt_tokens=len(item.input_ids), completion_tokens=len(tokens), latency_s=elapsed,
        )

    async def aclose(self) -> None:
        self.engine = None
        self.model = None
