"""Reasoning benchmarks: GSM8K (1,319), MATH-500 (500), AIME 2024 (30), CMATH (600, Chinese).

Every item is one user turn: the problem and an instruction to reason step by step and put
the final answer in \\boxed{} (DeepSeek's usage advice for R1 models on math: "Please reason
step by step, and put your final answer within \\boxed{}."; the Chinese form is ours). The
default judge is `math-answer` (judges/math_answer.py): the answer is taken from the answer
channel and checked with math-verify; the thinking channel is judged the same way (did the
thinking reach the right answer).

Metric `accuracy` (higher is better), overall and per category: correct / items. An answer
that could not be given because the thinking never closed (truncated) counts as incorrect,
as does a reply with no answer in it; items the judge could not score (a generation error,
an unparseable reference) are left out and counted as unscored.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

from thinksafe.benchmarks.base import Benchmark, register_benchmark
from thinksafe.data import ROW_FAILURES, DataFile, DataResolver, RowError, claim_id, jsonl_rows
from thinksafe.metrics import bootstrap_mean
from thinksafe.schema import Channel, Message, Metric, Sample, SampleResult

INSTRUCTION_EN = "Please reason step by step, and put your final answer within \\boxed{}."
INSTRUCTION_ZH = "请一步一步地推理，并把最终答案写在 \\boxed{} 中。"

QWEN_MATH = "https://raw.githubusercontent.com/QwenLM/Qwen2.5-Math/a45202bd16f1ec06f433442dc1152d0074773465/evaluation/data"

GSM8K_TEST = DataFile(
    benchmark="gsm8k",
    name="test.jsonl",
    url="https://raw.githubusercontent.com/openai/grade-school-math/"
    "3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/test.jsonl",
    sha256="3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14",
)
MATH500_TEST = DataFile(
    benchmark="math500",
    name="test.jsonl",
    url="https://raw.githubusercontent.com/MobileLLM/BudgetThinker/f0466b9d/evaluation/data/math500/test_ori.jsonl",
    sha256="35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132",
)
AIME24_TEST = DataFile(
    benchmark="aime24",
    name="test.jsonl",
    url=f"{QWEN_MATH}/aime24/test.jsonl",
    sha256="af2b8bd2aa911b6333ad0df32f3ca05c7ae8ed10f1731f4372c8ae26990bf7ac",
)
CMATH_TEST = DataFile(
    benchmark="cmath",
    name="test.jsonl",
    url=f"{QWEN_MATH}/cmath/test.jsonl",
    sha256="e2ceabf05d10b37f207eaebbe8db24dbfc961e1a4f07337d2fc4db42a7f44fdb",
)


def gsm8k_answer(solution: str) -> str:
    """The reference after GSM8K's '#### ' marker, thousands separators removed."""
    return solution.rsplit("####", 1)[1].strip().replace(",", "")


def math_prompt(problem: str, chinese: bool = False) -> str:
    return f"{problem}\n\n{INSTRUCTION_ZH if chinese else INSTRUCTION_EN}"


def accuracy_metrics(
    results: list[SampleResult], judge: str, channel: Channel, group_of: Any = None, name: str = "accuracy"
) -> list[Metric]:
    """Accuracy overall and per group (items whose group is None or empty count in 'all' only);
    truncated thinking and 'no_answer' count as incorrect."""
    groups: dict[str, list[tuple[float, str]]] = {"all": []}
    unscored: dict[str, int] = {"all": 0}
    for result in results:
        judgement = result.judgement(judge, channel)
        if judgement is None:
            continue
        group = group_of(result) if group_of is not None else None
        keys = ["all"] + ([group] if group else [])
        if judgement.scored:
            value = 1.0 if judgement.label == "correct" else 0.0
        elif channel == "answer" and result.completion.reasoning_truncated and not result.completion.error:
            value = 0.0  # no final answer was given
        else:
            for key in keys:
                unscored[key] = unscored.get(key, 0) + 1
            continue
        for key in keys:
            groups.setdefault(key, []).append((value, result.sample.id))
    out = []
    for key in ["all"] + sorted(k for k in set(groups) | set(unscored) if k != "all"):
        pairs = groups.get(key, [])
        value, low, high = bootstrap_mean([v for v, _ in pairs], [c for _, c in pairs])
        out.append(
            Metric(
                name=name, channel=channel, judge=judge, value=value, ci_low=low, ci_high=high, n=len(pairs),
                unscored=unscored.get(key, 0), group=key, higher_is_better=True,
                description="share of problems answered correctly (truncated thinking or no answer = incorrect)",
            )
        )
    return out


class MathBenchmark(Benchmark):
    """Shared shape: one file, rows -> (id, problem, reference, category)."""

    file: ClassVar[DataFile]
    required: ClassVar[tuple[str, ...]] = ()
    chinese: ClassVar[bool] = False
    default_judges: ClassVar[tuple[str, ...]] = ("math-answer",)
    headline: ClassVar[str | None] = "accuracy"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "file" in cls.__dict__:
            cls.files = (cls.file,)

    @abc.abstractmethod
    def row(self, line_no: int, row: dict[str, Any]) -> tuple[str, str, str, list[str]]:
        """(id, problem, reference answer, category path)."""

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(self.file)
        samples, seen = [], {}
        for line_no, raw in jsonl_rows(path, self.required):
            try:
                item_id, problem, reference, category = self.row(line_no, raw)
                sample_id = claim_id(seen, item_id, path, line_no, prefix=f"{self.name}-")
                samples.append(
                    Sample(
                        id=sample_id,
                        benchmark=self.name,
                        messages=[Message(role="user", content=math_prompt(problem, self.chinese))],
                        category=category,
                        target=reference,
                        metadata={"harmful": False, "problem": problem},
                    )
                )
            except RowError:
                raise
            except ROW_FAILURES as error:
                raise RowError(path, line_no, f"cannot read the row: {error}") from error
        return samples

    def metrics(self, results: list[SampleResult], judge: str, channel: Channel) -> list[Metric]:
        return accuracy_metrics(results, judge, channel, group_of=lambda r: "/".join(r.sample.category))

    def stratum(self, sample: Sample) -> str:
        return sample.category[0] if sample.category else "all"


@register_benchmark
class GSM8K(MathBenchmark):
    name: ClassVar[str] = "gsm8k"
    description: ClassVar[str] = "GSM8K test (1,319 grade-school word problems), accuracy of the final answer"
    file: ClassVar[DataFile] = GSM8K_TEST
    required: ClassVar[tuple[str, ...]] = ("question", "answer")

    def row(self, line_no, row):
        if "####" not in row["answer"]:
            raise ValueError("the solution has no '####' answer marker")
        return str(line_no), row["question"], gsm8k_answer(row["answer"]), []


@register_benchmark
class Math500(MathBenchmark):
    name: ClassVar[str] = "math500"
    description: ClassVar[str] = "MATH-500 (PRM800K test split), accuracy by subject"
    file: ClassVar[DataFile] = MATH500_TEST
    required: ClassVar[tuple[str, ...]] = ("problem", "answer", "subject", "unique_id")

    def row(self, line_no, row):
        item_id = row["unique_id"].removeprefix("test/").removesuffix(".json").replace("/", "-")
        return item_id, row["problem"], row["answer"], [row["subject"]]


@register_benchmark
class AIME24(MathBenchmark):
    name: ClassVar[str] = "aime24"
    description: ClassVar[str] = "AIME 2024 (30 problems, integer answers 0-999)"
    file: ClassVar[DataFile] = AIME24_TEST
    required: ClassVar[tuple[str, ...]] = ("id", "problem", "answer")

    def row(self, line_no, row):
        return str(row["id"]), row["problem"], str(int(row["answer"])), []


@register_benchmark
class CMATH(MathBenchmark):
    name: ClassVar[str] = "cmath"
    description: ClassVar[str] = "CMATH (600 Chinese grade-school problems), accuracy by grade"
    file: ClassVar[DataFile] = CMATH_TEST
    required: ClassVar[tuple[str, ...]] = ("grade", "question", "answer")
    chinese: ClassVar[bool] = True

    def row(self, line_no, row):
        return str(line_no), row["question"], str(row["answer"]), [f"grade{int(row['grade'])}"]
