"""Budget forcing: the target's thinking cut short, or kept going past where it wanted to stop.

- `mode=short`: the first call may think for `tokens` tokens only; when the thinking did not close
  (or the answer was cut off), a second call continues from the prompt, the thinking so far and
  `\\n</think>\\n\\n`, so the model must answer now.
- `mode=long`: when the model closes its thinking before `tokens` thinking tokens, the `</think>` is
  dropped, "Wait" (EN) / "等等" (ZH) appended, and the thinking continues, at most `extensions` times.

Prompts are rendered here (the in-process target's tokenizer, or `tokenizer=PATH` for an `openai:`
target, whose calls then go to the completions endpoint). The judged completion joins every call:
its reasoning is the whole forced thinking, its answer the final one; every call is cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from thinksafe.attacks.base import (AttackContext, AttackError, AttackKind, AttackOption, SolverAttack, language_of,
                                    register_attack)
from thinksafe.attacks.thought_prefill import TOKENIZER_OPTION, load_tokenizer, require_tokenizer, resplit, thinking_prompt
from thinksafe.models.cached import CachedModel
from thinksafe.reasoning import ThinkingMarkers
from thinksafe.schema import Completion, GenerationParams, Sample, SampleResult
from thinksafe.store import stable_hash

WAIT = {"en": "Wait", "zh": "等等"}


@dataclass
class Forced:
    """One (sample, generation index) being forced, with what its calls have made so far."""

    sample: Sample
    k: int
    prompt: str  # the rendered prompt, ending inside the opened thinking
    thinking: str = ""
    tail: str = ""  # from the closing marker on: the answer
    keys: list[str] = field(default_factory=list)
    calls: list[Completion] = field(default_factory=list)
    extensions: int = 0
    cut: bool = False

    def add(self, key: str, completion: Completion) -> None:
        self.keys.append(key)
        self.calls.append(completion)


@register_attack
class ThinkingBudget(SolverAttack):
    name: ClassVar[str] = "thinking-budget"
    description: ClassVar[str] = (
        "budget forcing of the thinking: mode=short cuts it at `tokens` tokens and makes the model answer; mode=long "
        "replaces an early </think> with 'Wait'/'等等' up to `extensions` times; hf: targets, or openai: with tokenizer=PATH"
    )
    source: ClassVar[str] = "Muennighoff et al. 2025, s1: Simple test-time scaling (budget forcing), arXiv 2501.19393"
    kind: ClassVar[AttackKind] = "reasoning"
    options: ClassVar[tuple[AttackOption, ...]] = (
        AttackOption(name="mode", default="short", help="short (cut the thinking) or long (extend it)"),
        AttackOption(name="tokens", type="int", default=64,
                     help="short: the thinking's token budget; long: the fewest thinking tokens before it may close"),
        AttackOption(name="extensions", type="int", default=2, help="long: the most times a </think> is replaced"),
        TOKENIZER_OPTION,
    )

    def check(self) -> None:
        if self.settings["mode"] not in {"short", "long"}:
            raise AttackError(f"attack {self.name!r} option 'mode' is short or long, not {self.settings['mode']!r}")
        if self.settings["tokens"] < 1:
            raise AttackError(f"attack {self.name!r} option 'tokens' must be at least 1")
        if self.settings["extensions"] < 0:
            raise AttackError(f"attack {self.name!r} option 'extensions' cannot be negative")

    def check_roles(self, context: AttackContext) -> None:
        super().check_roles(context)
        require_tokenizer(context, self.label, self.settings["tokenizer"])

    async def solve(self, context: AttackContext, samples: list[Sample]) -> list[SampleResult]:
        target = context.model("target", self.label)
        tokenizer = load_tokenizer(context, self.label, self.settings["tokenizer"])
        markers = target.options.markers
        states = [Forced(sample, k, thinking_prompt(tokenizer, sample.messages, markers))
                  for sample in samples for k in range(context.params.n)]
        if self.settings["mode"] == "short":
            await self._short(context, target, states, markers)
        else:
            await self._long(context, target, states, markers, tokenizer)
        return [self._result(state, markers) for state in states]

    @staticmethod
    async def _call(context: AttackContext, target: CachedModel, states: list[Forced], prompts: list[str],
                    params: GenerationParams) -> list[Completion]:
        requests = [context.request(s.sample.messages, params, s.k, raw_prompt=p) for s, p in zip(states, prompts)]
        completions = await target.generate_all(requests)
        for state, request, completion in zip(states, requests, completions):
            state.add(target.key(request), completion)
        return completions

    async def _short(self, context: AttackContext, target: CachedModel, states: list[Forced],
                     markers: ThinkingMarkers) -> None:
        budget = context.params.model_copy(update={"max_new_tokens": self.settings["tokens"]})
        firsts = await self._call(context, target, states, [s.prompt for s in states], budget)
        forced: list[Forced] = []
        for state, completion in zip(states, firsts):
            if completion.error:
                continue
            close = completion.text.find(markers.close)
            state.thinking = completion.text if close == -1 else completion.text[:close]
            if close != -1 and completion.finish_reason != "length":
                state.tail = completion.text[close:]  # closed within the budget and answered
            else:
                state.cut = True
                forced.append(state)
        if not forced:
            return
        opener = f"\n{markers.close}\n\n"
        answers = await self._call(context, target, forced, [s.prompt + s.thinking + opener for s in forced],
                                   context.params)
        for state, completion in zip(forced, answers):
            state.tail = opener + completion.text

    async def _long(self, context: AttackContext, target: CachedModel, states: list[Forced],
                    markers: ThinkingMarkers, tokenizer: Any) -> None:
        active = list(states)
        while active:
            completions = await self._call(context, target, active, [s.prompt + s.thinking for s in active], context.params)
            going: list[Forced] = []
            for state, completion in zip(active, completions):
                if completion.error:
                    continue
                close = completion.text.find(markers.close)
                if close == -1:  # never closed (cut off, or stopped inside the thinking)
                    state.thinking += completion.text
                    continue
                thinking = state.thinking + completion.text[:close]
                short = len(tokenizer(thinking, add_special_tokens=False)["input_ids"]) < self.settings["tokens"]
                if short and state.extensions < self.settings["extensions"]:
                    state.thinking = thinking.rstrip() + "\n\n" + WAIT[language_of(state.sample.prompt)]
                    state.extensions += 1
                    going.append(state)
                else:
                    state.thinking, state.tail = thinking, completion.text[close:]
            active = going

    def _result(self, state: Forced, markers: ThinkingMarkers) -> SampleResult:
        failed = next((c for c in state.calls if c.error), None)
        last = state.calls[-1]
        if failed is not None:
            completion = failed
        else:
            completion = resplit(state.thinking + state.tail, last, markers,
                                 prompt_tokens=_total(c.prompt_tokens for c in state.calls),
                                 completion_tokens=_total(c.completion_tokens for c in state.calls),
                                 latency_s=_total(c.latency_s for c in state.calls))
        variant = self.variant(state.sample, list(state.sample.messages), attack_queries=len(state.calls),
                               budget_mode=self.settings["mode"], budget_extensions=state.extensions,
                               budget_cut=state.cut)
        key = stable_hash({"thinking-budget": state.keys})  # the judged completion joins every call
        return self.result(variant, completion, key, state.k)

    def extra(self, results: list[SampleResult]) -> dict[str, Any]:
        return {
            "mode": self.settings["mode"],
            "cut": sum(1 for r in results if r.sample.metadata.get("budget_cut")),
            "extensions": sum(int(r.sample.metadata.get("budget_extensions", 0)) for r in results),
        }


def _total(values: Any) -> Any:
    """The sum of the values given, None when none was given."""
    present = [v for v in values if v is not None]
    return sum(present) if present else None
