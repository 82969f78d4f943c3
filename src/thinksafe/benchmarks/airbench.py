"""AIR-Bench 2024 (Zeng et al., 2024): 5,694 prompts, 314 level-4 risk categories under 16 level-2.

Data: the Hugging Face dataset `stanford-crfm/air-bench-2024`, pinned to revision
AIRBENCH_REVISION: the default config's test split (43 `category_*.csv` files) and the
`judge_prompts` config (`judge_prompt_final.csv`, one official judge prompt per level-4
category). Where they come from, in order:
1. a local copy of the official files under `<data-dir>/airbench2024/` or the cache
   (`$THINKSAFE_CACHE/airbench2024/<revision>/`): the CSVs, or a parquet export of the
   same schema (`test.parquet`, `judge_prompts.parquet`);
2. a download of the CSVs at the pinned revision (HF_TOKEN is sent when set); the sha256
   of every fetched file is written to `SHA256SUMS.json` beside them, checked on every
   later read, and reported in the run's notes;
3. offline, the mirror's DERIVED JSONL files (154 of the 5,694 prompts and the 314 judge
   prompts), with a note that the run covers a subset.
`--option source=official|sample` forces one or the other.

Metric (the authors'): the judge scores each answer 0 (refuses), 0.5 (neither), 1 (helps);
refusal rate = 1 - mean score, overall and by level-2, level-3 and level-4 category.
A judge without scores (e.g. refusal-rules) gives the binary share of refusals instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from thinksafe.benchmarks.base import Benchmark, BenchmarkOption, register_benchmark
from thinksafe.benchmarks.r1_common import check_recorded, fetch_recorded
from thinksafe.data import DataError, DataFile, DataResolver, RowError, cache_dir, csv_rows, jsonl_rows
from thinksafe.metrics import MetricSpec, Rate, Read
from thinksafe.schema import Message, Sample
from thinksafe.store import stable_hash

AIRBENCH_REPO = "stanford-crfm/air-bench-2024"
AIRBENCH_REVISION = "976d9fbb0f52bce704dcbef5bd7a2652e65f2a21"
PROMPT_FILES = tuple(f"category_{n}.csv" for n in [*range(1, 39), "3940", "4142", 43, 44, 45])
JUDGE_FILE = "judge_prompt_final.csv"
PARQUET_PROMPTS, PARQUET_JUDGE = "test.parquet", "judge_prompts.parquet"
CATEGORY_COLUMNS = ("cate-idx", "l2-name", "l3-name", "l4-name")

MIRROR_PROMPTS = DataFile(
    benchmark="airbench2024",
    name="air_bench_2024_sample_prompts.jsonl",
    url=f"https://huggingface.co/datasets/{AIRBENCH_REPO} (DERIVED: prompt-only union of the repo's evaluation/ examples)",
    sha256="dd8dd03e532ad6be1a911e73032cf80340c90752383930ae5ed6304edc9a3d42",
)
MIRROR_JUDGE = DataFile(
    benchmark="airbench2024",
    name="air_bench_2024_judge_prompts.jsonl",
    url=f"https://huggingface.co/datasets/{AIRBENCH_REPO} (DERIVED: config judge_prompts, split test, as JSONL)",
    sha256="0242134bcfc6f4f7839efdf9e502cc1f29ae4a62cd1de7925946a2176dda5fed",
)


def hf_url(name: str, revision: str = AIRBENCH_REVISION) -> str:
    return f"https://huggingface.co/datasets/{AIRBENCH_REPO}/resolve/{revision}/{name}"


def read_table(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV, JSONL or parquet file, checked for the needed columns and non-empty values."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            numbered = list(enumerate(pq.read_table(path).to_pylist()))
        except Exception as error:  # noqa: BLE001 - pyarrow raises its own types for a corrupt file
            raise DataError(f"{path}: not a readable parquet file: {type(error).__name__}: {error}") from error
    elif path.suffix == ".jsonl":
        numbered = jsonl_rows(path)
    else:
        numbered = csv_rows(path, ())
    for number, row in numbered:
        if not isinstance(row, dict):
            raise RowError(path, number, f"expected an object, got {type(row).__name__}")
        missing = [c for c in needed if not str(row.get(c) or "").strip()]
        if missing:
            raise RowError(path, number, f"empty or missing {missing}")
    return [{c: str(row[c]) for c in needed} for _, row in numbered]


class AirBenchFiles:
    """Finds the official files (local, cached or fetched at the pinned revision) or the mirror subset."""

    def __init__(self, data: DataResolver, source: str = "auto", revision: str = AIRBENCH_REVISION):
        if source not in {"auto", "official", "sample"}:
            raise ValueError(f"airbench-2024 option source must be auto, official or sample, not {source!r}")
        self.data, self.source, self.revision = data, source, revision
        self.notes: list[str] = []
        self.read: list[Path] = []  # the prompt files read, for messages

    def local_dirs(self) -> list[Path]:
        dirs = [cache_dir() / "airbench2024" / self.revision]
        if self.data.data_dir is not None:
            dirs.insert(0, self.data.data_dir / "airbench2024")
        return dirs

    def find_official(self) -> tuple[list[Path], Path | None, Path] | None:
        """(prompt files, judge file or None, folder) of a complete local copy."""
        for folder in self.local_dirs():
            csvs = [folder / name for name in PROMPT_FILES]
            judge = next((p for p in (folder / JUDGE_FILE, folder / PARQUET_JUDGE) if p.exists()), None)
            if all(p.exists() for p in csvs):
                return csvs, judge, folder
            if (folder / PARQUET_PROMPTS).exists():
                return [folder / PARQUET_PROMPTS], judge, folder
        return None

    def fetch(self) -> None:
        """Download the official CSVs at the pinned revision into the cache, recording their sha256."""
        folder = cache_dir() / "airbench2024" / self.revision
        for name in (*PROMPT_FILES, JUDGE_FILE):
            if not (folder / name).exists():
                fetch_recorded(hf_url(name, self.revision), folder / name)

    def prompts_and_judges(self) -> tuple[list[dict[str, str]], dict[str, str], str]:
        """(prompt rows, judge prompt by cate-idx, source description)."""
        official = None if self.source == "sample" else self.find_official()
        if official is None and self.source != "sample" and not self.data.offline:
            try:
                self.fetch()
                official = self.find_official()
            except DataError as error:
                if self.source == "official":
                    raise
                self.notes.append(f"could not fetch the full AIR-Bench set ({error}); using the mirror subset")
        if official is None:
            if self.source == "official":
                raise DataError(
                    f"the official AIR-Bench 2024 files are not available offline: fetch {hf_url(PROMPT_FILES[0])} "
                    f"(and the other category_*.csv files plus {JUDGE_FILE}) into {self.local_dirs()[0]}"
                )
            return self.mirror()
        files, judge_file, folder = official
        judge_file = judge_file or self.data.path(MIRROR_JUDGE)
        digests = {p.name: check_recorded(p, hf_url(p.name, self.revision)) for p in {*files, judge_file}}
        self.notes.append(
            f"AIR-Bench 2024 official test split ({AIRBENCH_REPO}@{self.revision}) from {folder}; "
            f"sha256 of the files read: {json.dumps(digests, sort_keys=True)}"
        )
        self.read = [*files, judge_file]
        rows = [row for path in files for row in read_table(path, (*CATEGORY_COLUMNS, "prompt"))]
        return rows, self.judge_prompts(judge_file), f"official@{self.revision}"

    def mirror(self) -> tuple[list[dict[str, str]], dict[str, str], str]:
        prompts = self.data.path(MIRROR_PROMPTS)
        judge = self.data.path(MIRROR_JUDGE)
        self.read = [prompts, judge]
        self.notes.append(
            "AIR-Bench 2024: only the mirror's 154-prompt DERIVED subset was available; the full 5,694-prompt set is "
            f"the HF dataset {AIRBENCH_REPO} (default config, test split) at revision {self.revision}"
        )
        return read_table(prompts, (*CATEGORY_COLUMNS, "prompt")), self.judge_prompts(judge), "mirror-sample"

    @staticmethod
    def judge_prompts(path: Path) -> dict[str, str]:
        table = {}
        for row in read_table(path, (*CATEGORY_COLUMNS, "judge_prompt")):
            if "{{QUESTION}}" not in row["judge_prompt"] or "{{ANSWER}}" not in row["judge_prompt"]:
                raise RowError(path, row["cate-idx"], "judge prompt lacks {{QUESTION}} or {{ANSWER}}")
            table[row["cate-idx"]] = row["judge_prompt"]
        return table


@register_benchmark
class AirBench2024(Benchmark):
    declared_options: ClassVar[tuple[BenchmarkOption, ...]] = (
        BenchmarkOption(name="source", type="str", default="auto",
                        help="auto (official files when found, else the mirror subset), official or sample"),
    )
    name: ClassVar[str] = "airbench-2024"
    description: ClassVar[str] = "AIR-Bench 2024: 5,694 prompts in 314 regulation-based risk categories; refusal rate = 1 - mean judge score"
    default_judges: ClassVar[tuple[str, ...]] = ("airbench",)
    headline: ClassVar[str | None] = "refusal_rate"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = (
        Rate("refusal_rate", (
            Read("harm_score", value=lambda score: None if score is None else 1.0 - score, labels=frozenset({"refusal", "neutral", "compliance"}),
                 description="1 - mean judge score (0 refuses, 0.5 neither, 1 helps)"),
            Read("refused", description="share of prompts refused (this judge gives no 0/0.5/1 score)"),
        ), higher_is_better=True, by=(
            lambda s: f"l2:{s.metadata['cate_idx'].split('.')[0]} {s.category[0]}",
            lambda s: "l3:" + ".".join(s.metadata["cate_idx"].split(".")[:2]) + f" {s.category[1]}",
            lambda s: f"l4:{s.metadata['cate_idx']} {s.category[2]}",
        )),
    )

    def load(self, data: DataResolver) -> list[Sample]:
        files = AirBenchFiles(data, self.options.get("source", "auto"))
        rows, judges, source = files.prompts_and_judges()
        self.load_notes = files.notes
        samples, seen = [], set()
        for row in rows:
            cate = row["cate-idx"]
            if cate not in judges:
                where = ", ".join(str(p) for p in files.read) or f"{AIRBENCH_REPO} test split"
                raise RowError(where, cate, "no judge prompt for this category")
            base = f"airbench-{cate}-{stable_hash(row['prompt'])[:10]}"
            sample_id, k = base, 1
            while sample_id in seen:
                k += 1
                sample_id = f"{base}-{k}"
            seen.add(sample_id)
            samples.append(
                Sample(
                    id=sample_id,
                    benchmark=self.name,
                    messages=[Message(role="user", content=row["prompt"])],
                    category=[row["l2-name"], row["l3-name"], row["l4-name"]],
                    metadata={"cate_idx": cate, "judge_prompt": judges[cate], "harmful": True, "source": source},
                )
            )
        return samples

    def stratum(self, sample: Sample) -> str:
        return sample.category[0]
