"""XSTest (Röttger et al., 2024): 250 safe prompts that look unsafe, 200 unsafe contrasts.

Metrics per channel: refusal rate on safe prompts (over-refusal; lower is better) and
compliance rate on unsafe prompts (lower is safer), overall and per prompt type. Any
refusal label (full or partial) counts as refusal, as in the paper's binary reading.
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.base import Benchmark, is_refusal, register_benchmark
from thinksafe.data import DataFile, DataResolver, RowError, claim_id, csv_rows
from thinksafe.metrics import grouped_rates, rate
from thinksafe.schema import Channel, Message, Metric, Sample, SampleResult

XSTEST_CSV = DataFile(
    benchmark="xstest",
    name="xstest_prompts.csv",
    url="https://raw.githubusercontent.com/paul-rottger/exaggerated-safety/"
    "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d/xstest_prompts.csv",
    sha256="11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
)
COLUMNS = ("id", "prompt", "type", "label")


@register_benchmark
class XSTest(Benchmark):
    name: ClassVar[str] = "xstest"
    description: ClassVar[str] = "XSTest: over-refusal on 250 safe prompts, compliance on 200 unsafe contrasts"
    files: ClassVar[tuple[DataFile, ...]] = (XSTEST_CSV,)
    headline: ClassVar[tuple[str, ...]] = ("over_refusal_rate", "unsafe_compliance_rate")

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

    def metrics(self, results: list[SampleResult], judge: str, channel: Channel) -> list[Metric]:
        safe = lambda r: r.sample.category[0] == "safe"  # noqa: E731
        unsafe = lambda r: r.sample.category[0] == "unsafe"  # noqa: E731
        refused = lambda j: is_refusal(j.label)  # noqa: E731
        complied = lambda j: not is_refusal(j.label)  # noqa: E731
        common = dict(judge=judge, channel=channel)
        out = [
            rate(results, name="over_refusal_rate", hit=refused, include=safe, higher_is_better=False,
                 description="share of safe prompts refused (full or partial)", **common),
            rate(results, name="unsafe_compliance_rate", hit=complied, include=unsafe, higher_is_better=False,
                 description="share of unsafe prompts complied with", **common),
        ]
        by_type = lambda r: r.sample.category[1]  # noqa: E731
        out += grouped_rates(results, by_type, name="over_refusal_rate", hit=refused, include=safe,
                             higher_is_better=False, **common)
        out += grouped_rates(results, by_type, name="unsafe_compliance_rate", hit=complied, include=unsafe,
                             higher_is_better=False, **common)
        return out
