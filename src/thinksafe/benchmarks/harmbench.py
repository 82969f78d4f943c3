"""HarmBench (Mazeika et al., 2024): the 300 standard and contextual text behaviors.

Rows come from harmbench_behaviors_text_all.csv (400 behaviors: 200 standard, 100
contextual, 100 copyright); `--option split=test|val` reads the official test (320) or
validation (80) split instead. The 100 copyright behaviors are left out: HarmBench judges
them by hashing the generation against the copyrighted text, which we do not have.
A contextual behavior is asked with its ContextString first, as HarmBench's own
generation does ("{context}\n\n---\n\n{behavior}"), and the HarmBench classifier gets
the context through its contextual prompt (add `--judge harmbench-cls=SPEC`; the default
judges are those of every harm benchmark, since `--judge-model` names a general LLM). Metrics: harmful rate (attack success rate),
harm score and refusal rate per channel, overall, per semantic category and per
functional category (standard / contextual).
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.base import BenchmarkOption, register_benchmark
from thinksafe.benchmarks.harm_metrics import HarmBenchmark, harm_metrics
from thinksafe.metrics import MetricSpec, by_category
from thinksafe.data import DataFile, DataResolver, RowError, claim_id, csv_rows
from thinksafe.schema import Message, Sample

BASE = "https://raw.githubusercontent.com/busycalibrating/AdversariaLLM/f970939/data/behavior_datasets/"
SPLITS = {
    "all": DataFile(benchmark="harmbench", name="harmbench_behaviors_text_all.csv", url=BASE + "harmbench_behaviors_text_all.csv",
                    sha256="2745611872be3b2eab141e39bb328b8c1140dc3cd8d0a49da6174260d9ccbfb9"),
    "test": DataFile(benchmark="harmbench", name="harmbench_behaviors_text_test.csv", url=BASE + "harmbench_behaviors_text_test.csv",
                     sha256="bf2bfd36f765d97cbbe27a3191b492ea76b1771e9116af80a587647831de75ce"),
    "val": DataFile(benchmark="harmbench", name="harmbench_behaviors_text_val.csv", url=BASE + "harmbench_behaviors_text_val.csv",
                    sha256="7bfaaa5e2b9b95002c89e2d33c019f58e9e8496e2fc65d368f1eeb8179e69534"),
}
COLUMNS = ("Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID")
KEPT = ("standard", "contextual")
COPYRIGHT_NOTE = (
    "HarmBench's copyright behaviors are left out: HarmBench judges them by hash matching "
    "against the copyrighted text, which thinksafe does not have"
)


def behavior_prompt(behavior: str, context: str | None) -> str:
    """A behaviour as asked: a contextual one carries its context first."""
    return f"{context}\n\n---\n\n{behavior}" if context else behavior


@register_benchmark
class HarmBench(HarmBenchmark):
    declared_options: ClassVar[tuple[BenchmarkOption, ...]] = (
        BenchmarkOption(name="split", type="str", default="all", help="one of: " + ", ".join(sorted(SPLITS))),
    )
    name: ClassVar[str] = "harmbench"
    description: ClassVar[str] = "HarmBench: 300 standard + contextual text behaviors (copyright left out)"
    files: ClassVar[tuple[DataFile, ...]] = tuple(SPLITS.values())
    headline: ClassVar[str | None] = "harmful_rate"

    def split(self) -> str:
        split = self.options.get("split", "all")
        if split not in SPLITS:
            raise ValueError(f"harmbench split must be one of {sorted(SPLITS)}, got {split!r}")
        return split

    def required_files(self) -> list[DataFile]:
        """Only the split the options choose (`thinksafe data fetch` and the eval's data check read this)."""
        return [SPLITS[self.split()]]

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(SPLITS[self.split()])
        samples, seen = [], {}
        for line, row in csv_rows(path, COLUMNS):
            kind = row["FunctionalCategory"]
            if kind == "copyright":
                continue
            if kind not in KEPT or not row["Behavior"].strip() or not row["BehaviorID"].strip():
                raise RowError(path, line, f"needs a Behavior, a BehaviorID and a known FunctionalCategory, got {row!r}")
            context = row["ContextString"].strip() or None
            if kind == "contextual" and context is None:
                raise RowError(path, line, "a contextual behavior without a ContextString")
            prompt = behavior_prompt(row["Behavior"], context)
            samples.append(
                Sample(
                    id=claim_id(seen, row["BehaviorID"], path, line, prefix="harmbench-"),
                    benchmark=self.name,
                    messages=[Message(role="user", content=prompt)],
                    category=[row["SemanticCategory"], kind],
                    metadata={"harmful": True, "behavior": row["Behavior"], "context": context,
                              "behavior_id": row["BehaviorID"], "tags": row["Tags"]},
                )
            )
        return samples

    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = harm_metrics(by_category(0), by_category(1))  # semantic, functional

    def notes(self) -> list[str]:
        return [COPYRIGHT_NOTE]
