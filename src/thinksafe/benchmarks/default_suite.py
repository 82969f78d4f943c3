"""`default`: the suite `make run` evaluates; every member runs offline without a judge model.

English over-refusal and harmful compliance (XSTest, StrongREJECT small), Chinese risky
questions (CHiSafetyBench QA; approximate rule fallback unless --judge-model is given),
Chinese safety knowledge (SafetyBench-zh, published key), and reasoning (GSM8K), so one
run shows safety and capability side by side.
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.base import Suite, register_suite


@register_suite
class DefaultSuite(Suite):
    name: ClassVar[str] = "default"
    description: ClassVar[str] = "what `make run` evaluates: safety (EN, ZH) and reasoning, offline judges"
    members: ClassVar[tuple[str, ...]] = ("xstest", "strongreject-small", "chisafetybench-qa", "safetybench-zh", "gsm8k")
