"""Thinking mode: the same prompts with the chat template's `enable_thinking` switch set.

The switch travels as `GenerationRequest.chat_template_kwargs`: the hf and vllm backends pass it to
`apply_chat_template`, the openai backend sends it as the `chat_template_kwargs` body field (vLLM and
SGLang read it; the DeepSeek API ignores it). Only templates that read `enable_thinking` (Qwen3) change.
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.attacks.base import AttackContext, AttackKind, AttackOption, SolverAttack, register_attack
from thinksafe.models.base import parse_spec
from thinksafe.schema import Sample, SampleResult


@register_attack
class ThinkingMode(SolverAttack):
    name: ClassVar[str] = "thinking-mode"
    description: ClassVar[str] = (
        "the benchmark's prompts with the chat template's enable_thinking set (default false: thinking off); only "
        "templates that read enable_thinking (Qwen3) change, and the DeepSeek API ignores the field"
    )
    source: ClassVar[str] = "Qwen Team 2025, Qwen3 Technical Report (thinking and non-thinking modes), arXiv 2505.09388"
    kind: ClassVar[AttackKind] = "reasoning"
    options: ClassVar[tuple[AttackOption, ...]] = (
        AttackOption(name="enable_thinking", type="bool", default=False,
                     help="the value passed to the chat template as enable_thinking"),
    )

    def note_template(self, context: AttackContext) -> None:
        """A run note when the switch is known to change nothing."""
        target = context.model("target", self.label)
        scheme = parse_spec(context.target_spec)[0]
        if scheme in {"hf", "vllm"}:
            template = getattr(target.tokenizer, "chat_template", None)
            if "enable_thinking" not in str(template or ""):
                context.add_note(f"attack {self.label}: the target's chat template does not read enable_thinking, "
                                 "so its prompts are the benchmark's own")
        elif "api.deepseek.com" in target.spec:
            context.add_note(f"attack {self.label}: the DeepSeek API ignores chat_template_kwargs")

    async def solve(self, context: AttackContext, samples: list[Sample]) -> list[SampleResult]:
        self.note_template(context)
        target = context.model("target", self.label)
        kwargs = {"enable_thinking": bool(self.settings["enable_thinking"])}
        pairs = [(sample, k) for sample in samples for k in range(context.params.n)]
        requests = [context.request(sample.messages, context.params, k).model_copy(update={"chat_template_kwargs": kwargs})
                    for sample, k in pairs]
        completions = await target.generate_all(requests)
        return [
            self.result(self.variant(sample, list(sample.messages), attack_queries=1, enable_thinking=kwargs["enable_thinking"]),
                        completion, target.key(request), k)
            for (sample, k), request, completion in zip(pairs, requests, completions)
        ]
