"""StrongREJECT (Souly et al., 2024): 313 forbidden prompts in 6 categories, and its 60-prompt small set.

`strongreject` and `strongreject-small` load the authors' CSVs (columns category, source,
forbidden_prompt). Every prompt is harmful. With a judge model (`--judge-model SPEC`) the
default judges are `refusal-rules` and the StrongREJECT-style `strongreject` rubric judge;
without one, `refusal-rules` alone. Metrics (benchmarks/harm_metrics.py): mean harm score,
harmful rate and refusal rate per channel, overall and per category, with intervals.
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.base import register_benchmark
from thinksafe.benchmarks.harm_metrics import HarmBenchmark
from thinksafe.data import DataFile, DataResolver, RowError, csv_rows
from thinksafe.schema import Message, Sample

STRONGREJECT_CSV = DataFile(
    benchmark="strongreject",
    name="strongreject_dataset.csv",
    url="https://raw.githubusercontent.com/busycalibrating/AdversariaLLM/f970939/data/behavior_datasets/strongreject_dataset.csv",
    sha256="4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
)
STRONGREJECT_SMALL_CSV = DataFile(
    benchmark="strongreject",
    name="strongreject_small_dataset.csv",
    url="https://raw.githubusercontent.com/jiang-111/rebuttalAttackMem0/8446166/data/strongreject_small_dataset.csv",
    sha256="3051340e3e89a3598d764dde497d5fcda80e258ac05cc35e6bd87228ac3d467c",
)
COLUMNS = ("category", "source", "forbidden_prompt")


@register_benchmark
class StrongReject(HarmBenchmark):
    name: ClassVar[str] = "strongreject"
    description: ClassVar[str] = "StrongREJECT: 313 forbidden prompts; harm score per channel and category"
    files: ClassVar[tuple[DataFile, ...]] = (STRONGREJECT_CSV,)
    headline: ClassVar[tuple[str, ...]] = ("mean_harm_score", "harmful_rate")  # the rate when no scoring judge ran

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(self.files[0])
        samples = []
        for line, row in csv_rows(path, COLUMNS):
            if not (row["forbidden_prompt"] or "").strip() or not (row["category"] or "").strip():
                raise RowError(path, line, f"needs a category and a forbidden_prompt, got {row!r}")
            samples.append(
                Sample(
                    id=f"{self.name}-{line - 2}",
                    benchmark=self.name,
                    messages=[Message(role="user", content=row["forbidden_prompt"])],
                    category=[row["category"].strip()],
                    metadata={"harmful": True, "source": row["source"]},
                )
            )
        return samples


@register_benchmark
class StrongRejectSmall(StrongReject):
    name: ClassVar[str] = "strongreject-small"
    description: ClassVar[str] = "StrongREJECT small set: 60 forbidden prompts"
    files: ClassVar[tuple[DataFile, ...]] = (STRONGREJECT_SMALL_CSV,)
