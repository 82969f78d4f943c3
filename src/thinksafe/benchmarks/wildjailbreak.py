"""WildJailbreak (Jiang et al., 2024) evaluation set, and WildGuardTest (Han et al., 2024).

`wildjailbreak`: 2,000 adversarial harmful and 210 adversarial benign prompts (allenai/wildteaming
`data/eval.tsv`). Attack success rate on the harmful ones: the answer complies with the
harmful intent, read from the judge's safe/unsafe reading (the `harmful-compliance` rubric by
default; a classifier judge such as `wildguard` works too). Refusal rate on the benign ones
(over-refusal; lower is better).

`wildguardtest`: the prompts of WildGuardTest (HF `allenai/wildguardmix`, config
`wildguardtest`, gated under AI2's responsible-use terms): attack success on prompts labelled
harmful, refusal on those labelled unharmful, by vanilla/adversarial and subcategory. The
file is read from `<data-dir>/wildguardtest/wildguard_test.parquet` or the cache, or fetched
with HF_TOKEN (after accepting the terms on the dataset page); its sha256 is recorded.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from typing import ClassVar

from thinksafe.benchmarks.base import Benchmark, BenchmarkOption, register_benchmark
from thinksafe.benchmarks.r1_common import check_recorded, fetch_recorded
from thinksafe.data import DataError, DataFile, DataResolver, RowError, cache_dir, csv_rows
from thinksafe.metrics import MetricSpec, Rate, Read, benign, by_category, harmful
from thinksafe.schema import Message, Sample

WILDJAILBREAK_EVAL = DataFile(
    benchmark="wildjailbreak",
    name="eval.tsv",
    url="https://raw.githubusercontent.com/allenai/wildteaming/0897f74/data/eval.tsv",
    sha256="eeb7e43aafa0151588f5cb8994b99adc0ee34a57819d92f43a6084f0b7fe4fa4",
)
DATA_TYPES = {"adversarial_harmful": True, "adversarial_benign": False}

WILDGUARD_REPO = "allenai/wildguardmix"
WILDGUARD_FILE = "wildguard_test.parquet"
WILDGUARD_PATH = f"test/{WILDGUARD_FILE}"
PROMPT_LABELS = {"harmful": True, "unharmful": False}


def jailbreak_metrics(*groupings: Callable[[Sample], str | None]) -> tuple[MetricSpec, ...]:
    """ASR on harmful prompts (the judge's unsafe reading) and refusal rate on benign ones, overall and by group."""
    return (
        Rate("attack_success_rate", (Read("unsafe", value=bool),), higher_is_better=False, where=harmful, by=groupings,
             description="share of harmful prompts whose text complies with the harmful intent"),
        Rate("benign_refusal_rate", (Read("refused"),), higher_is_better=False, where=benign, by=groupings,
             description="share of benign prompts refused (over-refusal)"),
        Rate("harmful_refusal_rate", (Read("refused"),), higher_is_better=True, where=harmful,
             description="share of harmful prompts refused"),
    )


@register_benchmark
class WildJailbreak(Benchmark):
    name: ClassVar[str] = "wildjailbreak"
    description: ClassVar[str] = "WildJailbreak eval: ASR on 2,000 adversarial harmful prompts, refusal on 210 adversarial benign"
    files: ClassVar[tuple[DataFile, ...]] = (WILDJAILBREAK_EVAL,)
    default_judges: ClassVar[tuple[str, ...]] = ("harmful-compliance",)
    headline: ClassVar[str | None] = "attack_success_rate"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = jailbreak_metrics()

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(WILDJAILBREAK_EVAL)
        csv.field_size_limit(sys.maxsize)
        samples = []
        for line, row in csv_rows(path, ("adversarial", "data_type"), delimiter="\t"):
            if not (row.get("adversarial") or "").strip() or row.get("data_type") not in DATA_TYPES:
                raise RowError(path, line, f"needs a prompt and data_type in {sorted(DATA_TYPES)}")
            samples.append(
                Sample(
                    id=f"wildjailbreak-{line - 2}",
                    benchmark=self.name,
                    messages=[Message(role="user", content=row["adversarial"])],
                    category=[row["data_type"]],
                    metadata={"harmful": DATA_TYPES[row["data_type"]]},
                )
            )
        return samples


@register_benchmark
class WildGuardTest(Benchmark):
    declared_options: ClassVar[tuple[BenchmarkOption, ...]] = (
        BenchmarkOption(name="revision", type="str", default="main", help="revision of allenai/wildguardmix to fetch"),
    )
    name: ClassVar[str] = "wildguardtest"
    description: ClassVar[str] = "WildGuardTest prompts (gated HF allenai/wildguardmix; needs HF_TOKEN or a local file): ASR and over-refusal"
    default_judges: ClassVar[tuple[str, ...]] = ("harmful-compliance",)
    headline: ClassVar[str | None] = "attack_success_rate"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = jailbreak_metrics(by_category(1), by_category(2))

    @property
    def revision(self) -> str:
        return self.options.get("revision", "main")

    def url(self) -> str:
        return f"https://huggingface.co/datasets/{WILDGUARD_REPO}/resolve/{self.revision}/{WILDGUARD_PATH}"

    def locate(self, data: DataResolver):
        candidates = [cache_dir() / "wildguardtest" / self.revision / WILDGUARD_FILE]
        if data.data_dir is not None:
            candidates.insert(0, data.data_dir / "wildguardtest" / WILDGUARD_FILE)
        found = next((p for p in candidates if p.exists()), None)
        if found is not None:
            return found
        target = candidates[-1]
        if data.offline:
            raise DataError(
                f"WildGuardTest is gated: accept the terms at https://huggingface.co/datasets/{WILDGUARD_REPO}, then set HF_TOKEN "
                f"and run online, or place {WILDGUARD_PATH} at {candidates[0]} (offline mode is on)"
            )
        fetch_recorded(self.url(), target)
        return target

    def load(self, data: DataResolver) -> list[Sample]:
        import pyarrow.parquet as pq

        path = self.locate(data)
        digest = check_recorded(path, self.url())
        self.load_notes = [f"WildGuardTest from {path} (sha256 {digest}; {WILDGUARD_REPO}@{self.revision}:{WILDGUARD_PATH})"]
        samples, unlabelled = [], 0
        for index, row in enumerate(pq.read_table(path).to_pylist()):
            prompt = row.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise RowError(path, index, "empty or missing prompt")
            harmful = PROMPT_LABELS.get(str(row.get("prompt_harm_label")))
            unlabelled += harmful is None
            samples.append(
                Sample(
                    id=f"wildguardtest-{index}",
                    benchmark=self.name,
                    messages=[Message(role="user", content=prompt)],
                    category=[
                        str(row.get("prompt_harm_label") or "unlabelled"),
                        "adversarial" if row.get("adversarial") else "vanilla",
                        str(row.get("subcategory") or "unknown"),
                    ],
                    metadata={"harmful": harmful},
                )
            )
        if unlabelled:
            self.load_notes.append(f"{unlabelled} prompts have no prompt_harm_label and are left out of both rates")
        return samples
