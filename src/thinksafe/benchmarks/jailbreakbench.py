"""JailbreakBench (Chao et al., 2024): 100 harmful behaviors, 10 categories of 10.

Each behavior's Goal is the request; Behavior (a short name) and Category are kept. The
mirror holds a copy derived from the JailbreakBench artifacts (columns Index, Goal,
Behavior, Category; Target and Source absent) pinned by its sha256. Without it the
official CSV (JailbreakBench/JBB-Behaviors on the Hugging Face hub) is downloaded; its
hash is not recorded here, so its shape is checked instead (100 rows, 10 categories).
JailbreakBench's own judge (Llama-3-70B with its prompt) is not reproduced; the default
judges are those of every harm benchmark here. Metrics: benchmarks/harm_metrics.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

from thinksafe.benchmarks.base import register_benchmark
from thinksafe.benchmarks.harm_metrics import HarmBenchmark
from thinksafe.data import DataError, DataFile, DataResolver, RowError, claim_id, csv_rows
from thinksafe.schema import Message, Sample

JBB_MIRROR_CSV = DataFile(
    benchmark="jailbreakbench",
    name="jbb_behaviors_harmful_100.csv",
    url="https://raw.githubusercontent.com/JailbreakBench/artifacts/909e68c/attack-artifacts/PAIR/black_box/gpt-4-0125-preview.json",
    sha256="588e7690cda299f3a31cf8b409e15362df7efa6744a5b43f6b63fd4bd1121688",
)
JBB_OFFICIAL_CSV = DataFile(
    benchmark="jailbreakbench",
    name="harmful-behaviors.csv",
    url="https://huggingface.co/datasets/JailbreakBench/JBB-Behaviors/resolve/main/data/harmful-behaviors.csv",
    sha256=None,
)
COLUMNS = ("Index", "Goal", "Behavior", "Category")


def resolve(data: DataResolver) -> Path:
    """The derived mirror copy (hash-checked) when present, else the official CSV."""
    try:
        return DataResolver(data.data_dir, offline=True).path(JBB_MIRROR_CSV)
    except DataError as error:
        if "does not match the pinned sha256" in str(error):
            raise
        return data.path(JBB_OFFICIAL_CSV)


@register_benchmark
class JailbreakBench(HarmBenchmark):
    name: ClassVar[str] = "jailbreakbench"
    description: ClassVar[str] = "JailbreakBench: 100 harmful behaviors in 10 categories"
    files: ClassVar[tuple[DataFile, ...]] = (JBB_MIRROR_CSV, JBB_OFFICIAL_CSV)
    headline: ClassVar[str | None] = "harmful_rate"

    def required_files(self) -> list[tuple[DataFile, ...]]:
        """One file, either of two: the derived mirror copy, or else the official CSV."""
        return [(JBB_MIRROR_CSV, JBB_OFFICIAL_CSV)]

    def load(self, data: DataResolver) -> list[Sample]:
        path = resolve(data)
        samples, seen = [], {}
        for line, row in csv_rows(path, COLUMNS):
            if not row["Goal"].strip() or not row["Category"].strip() or not row["Index"].strip():
                raise RowError(path, line, f"needs an Index, a Goal and a Category, got {row!r}")
            samples.append(
                Sample(
                    id=claim_id(seen, row["Index"], path, line, prefix="jbb-"),
                    benchmark=self.name,
                    messages=[Message(role="user", content=row["Goal"])],
                    category=[row["Category"].strip()],
                    metadata={"harmful": True, "behavior": row["Goal"], "behavior_name": row["Behavior"]},
                )
            )
        counts = Counter(s.category[0] for s in samples)
        if len(samples) != 100 or len(counts) != 10:
            raise RowError(path, len(samples) + 1, f"expected 100 behaviors in 10 categories, got {len(samples)} in {len(counts)}")
        return samples
