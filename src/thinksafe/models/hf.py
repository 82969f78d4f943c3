"""In-process Hugging Face transformers models (the embedded default backend).

`hf:<hub id or local path>` loads the model with its own chat template; `hf:<base>+<adapter
dir>` applies a PEFT (LoRA) adapter on top. Prompts are grouped by length into batches and
generated in a worker thread so the event loop stays free. The batching engine is a
separate object so a faster one can be swapped in without touching the backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from thinksafe.models.base import Model, ModelLoadError, ModelOptions, register_backend
from thinksafe.reasoning import prompt_opens_thinking, split_reasoning
from thinksafe.schema import Completion, GenerationParams, GenerationRequest, Message

FALLBACK_NOTE = "the tokenizer has no chat template; prompts use a plain 'Role: text' layout"


def load_hf(name: str, device: str | None = None) -> tuple[Any, Any]:
    """Load (tokenizer, model) from a hub id or local directory, optionally with an adapter."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ModelLoadError("the hf backend needs torch and transformers: pip install 'thinksafe[hf]'") from error

    base, _, adapter = name.partition("+")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"could not load {base!r}: {error}\n"
            "Without hub access, download the model elsewhere (huggingface-cli download "
            f"{base} --local-dir DIR), copy DIR here and pass --model hf:DIR; or serve it with vLLM "
            "or any OpenAI-compatible server and pass --model openai:<name>@http://host:port/v1."
        ) from error
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
    model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer, model


def render_prompt(tokenizer: Any, messages: list[Message]) -> str:
    """The model's own chat template, ending with the assistant's generation prompt."""
    dicts = [m.model_dump() for m in messages]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(dicts, tokenize=False, add_generation_prompt=True)
    lines = [f"{m.role.capitalize()}: {m.content}" for m in messages]
    return "\n".join(lines) + "\nAssistant:"


@dataclass
class PreparedRequest:
    index: int
    prompt: str
    input_ids: list[int]
    params: GenerationParams
    sample_index: int
    starts_in_thinking: bool


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
        eos = _eos_ids(self.tokenizer, self.model)
        results = []
        for row in output[:, width:].tolist():
            cut = next((i for i, t in enumerate(row) if t in eos), None)
            results.append((row[:cut] if cut is not None else row, cut is not None))
        return results


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(configured)
    return {i for i in ids if i is not None}


@register_backend("hf")
class HFModel(Model):
    def __init__(self, name: str, options: ModelOptions, engine_factory: Callable[..., Any] | None = None):
        super().__init__(name, options)
        self.tokenizer, self.model = load_hf(name, options.device)
        self.engine = (engine_factory or StaticBatchEngine)(self.tokenizer, self.model, options.batch_size)
        self.notes = [] if getattr(self.tokenizer, "chat_template", None) else [FALLBACK_NOTE]

    def prepare(self, index: int, request: GenerationRequest) -> PreparedRequest:
        prompt = request.raw_prompt if request.raw_prompt is not None else render_prompt(self.tokenizer, request.messages)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        opens = prompt_opens_thinking(prompt, self.options.markers)
        return PreparedRequest(index, prompt, ids, request.params, request.sample_index, opens)

    async def generate(self, requests: list[GenerationRequest]) -> AsyncIterator[tuple[int, Completion]]:
        prepared = [self.prepare(i, r) for i, r in enumerate(requests)]
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

    def _completion(self, item: PreparedRequest, tokens: list[int], hit_eos: bool, elapsed: float) -> Completion:
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        split = split_reasoning(text, starts_in_thinking=item.starts_in_thinking, markers=self.options.markers)
        return Completion(
            text=text,
            reasoning=split.reasoning,
            answer=split.answer,
            reasoning_truncated=split.truncated,
            finish_reason="stop" if hit_eos else "length",
            prompt_tokens=len(item.input_ids),
            completion_tokens=len(tokens),
            latency_s=elapsed,
        )

    async def aclose(self) -> None:
        self.model = None
