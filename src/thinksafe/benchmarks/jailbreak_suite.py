"""`jailbreak`: harmful requests under a default set of attack techniques, judged offline.

StrongREJECT's small set (60 forbidden prompts, English) and CHiSafetyBench's risky questions
(Chinese), each run plain (`none`, the baseline) and under single-turn and reasoning-aimed
techniques whose templates exist in both languages. Every metric is reported per technique
(`attack:<label>`) with intervals clustered on the original prompt. `--attack` replaces the
default set; `--judge-model` adds the benchmarks' LLM judges (StrongREJECT's rubric).
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.base import Suite, register_suite


@register_suite
class JailbreakSuite(Suite):
    name: ClassVar[str] = "jailbreak"
    description: ClassVar[str] = "harmful requests (EN, ZH) x default attack techniques, answer and thinking ASR apart"
    members: ClassVar[tuple[str, ...]] = ("strongreject-small", "chisafetybench-qa")
    attacks: ClassVar[tuple[str, ...]] = (
        "none", "persona", "refusal-suppression", "prefix-injection", "fiction", "base64", "many-shot",
        "past-tense", "forged-thinking", "cot-hijack",
    )
