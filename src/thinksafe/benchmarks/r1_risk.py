"""The R1 risk assessment suite ("The Hidden Risks of Large Reasoning Models: A Safety Assessment
of R1", Zhou et al., 2025): `--benchmark r1-risk` runs every member with its own default
judge and writes OUT/<member>/summary.json plus a combined OUT/summary.json whose rows
show each member's headline metric for the answer and the thinking.

Also here: `xstest-3way`, XSTest judged with the three-way `xstest-3way` judge. On top of
XSTest's binary rates it reports the share of each class (full compliance, full refusal,
partial refusal) on safe and on unsafe prompts, overall and per prompt type.
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.base import Suite, register_benchmark, register_suite
from thinksafe.benchmarks.xstest import XSTest
from thinksafe.metrics import MetricSpec, Rate, Read, by_category

THREE_WAY = ("full_compliance", "full_refusal", "partial_refusal")


@register_benchmark
class XSTestThreeWay(XSTest):
    name: ClassVar[str] = "xstest-3way"
    description: ClassVar[str] = "XSTest with the three-way judge: full compliance / full refusal / partial refusal on safe and unsafe prompts"
    default_judges: ClassVar[tuple[str, ...]] = ("xstest-3way",)
    headline: ClassVar[str | None] = "unsafe_compliance_rate"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = XSTest.declared_metrics + tuple(
        Rate(f"{side}_{label}_share", (Read("label", value=lambda found, x=label: found == x, labels=frozenset(THREE_WAY)),),
             higher_is_better=(label != "full_compliance") if side == "unsafe" else (label == "full_compliance"),
             where=lambda sample, s=side: sample.category[0] == s, by=(by_category(1),),
             description=f"share of {side} prompts labelled {label}")
        for side in ("safe", "unsafe") for label in THREE_WAY
    )


@register_suite
class R1Risk(Suite):
    name: ClassVar[str] = "r1-risk"
    description: ClassVar[str] = "The R1 safety assessment: AIR-Bench, CyberSecEval, XSTest three-way, WildJailbreak"
    members: ClassVar[tuple[str, ...]] = (
        "airbench-2024",
        "cse-mitre",
        "cse-mitre-frr",
        "cse-interpreter",
        "cse-phishing",
        "cse-prompt-injection",
        "xstest-3way",
        "wildjailbreak",
    )
