"""XSTest (Röttger et al., 2024): 250 safe prompts that look unsafe, 200 unsafe contrasts.

Metrics per channel: refusal rate on safe prompts (over-refusal; lower is better) and
compliance rate on unsafe prompts (lower is safer), overall and per prompt type. Any
refusal label (full or partial) counts as refusal, as in the paper's binary reading.
"""

from __future__ import annotations

from typing import ClassVar

from collections.abc import Callable

from thinksafe.benchmarks.base import Benchmark, register_benchmark
from thinksafe.data import DataFile, DataResolver, RowError, claim_id, csv_rows
from thinksafe.metrics import MetricSpec, Rate, Read, by_category
from thinksafe.schema import Message, Sample

XSTEST_CSV = DataFile(
    benchmark="xstest",
    name="xstest_prompts.csv",
    url="https://raw.githubusercontent.com/paul-rottger/exaggerated-safety/"
    "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d/xstest_prompts.csv",
    sha256="11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
)
COLUMNS = ("id", "prompt", "type", "label")


def binary_refusal_metrics(*groupings: Callable[[Sample], str | None]) -> tuple[MetricSpec, ...]:
    """XSTest's binary reading: refusals of safe prompts, compliance with unsafe ones (first category level)."""
    safe = lambda sample: sample.category[0] == "safe"  # noqa: E731
    unsafe = lambda sample: sample.category[0] == "unsafe"  # noqa: E731
    return (
        Rate("over_refusal_rate", (Read("refused"),), higher_is_better=False, where=safe, by=groupings,
             description="share of safe prompts refused (full or partial)"),
        Rate("unsafe_compliance_rate", (Read("refused", value=lambda refused: not refused),), higher_is_better=False,
             where=unsafe, by=groupings, description="share of unsafe prompts complied with"),
    )


@register_benchmark
class XSTest(Benchmark):
    name: ClassVar[str] = "xstest"
    description: ClassVar[str] = "XSTest: over-refusal on 250 safe prompts, compliance on 200 unsafe contrasts"
    files: ClassVar[tuple[DataFile, ...]] = (XSTEST_CSV,)
    headline: ClassVar[tuple[str, ...]] = ("over_refusal_rate", "unsafe_compliance_rate")
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = binary_refusal_metrics(by_category(1))  # per prompt type

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(XSTEST_CSV)
        samples, seen = [], {}
        for line, row in csv_rows(path, COLUMNS):
            if not row["prompt"] or row["label"] not in {"safe", "unsafe"} or not row["type"]:
                raise RowError(path, line, f"needs a prompt, a type and label safe/unsafe, got {row!r}")
            samples.append(
                Sample(
                    id=claim_id(seen, row["id"], path, line, prefix="xstest-"),
                    benchmark=self.name,
                    messages=[Message(role="user", content=row["prompt"])],
                    category=[row["label"], row["type"]],
                    metadata={"harmful": row["label"] == "unsafe", "focus": row.get("focus"), "note": row.get("note")},
                )
            )
        return samples
