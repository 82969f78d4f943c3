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
from collections.abc import Callable
from typing import Any, ClassVar

from thinksafe.benchmarks.base import Benchmark, register_benchmark
from thinksafe.data import ROW_FAILURES, DataFile, DataResolver, RowError, claim_id, jsonl_rows
from thinksafe.metrics import MetricSpec, Rate, Read
from thinksafe.schema import Channel, Judgement, Message, Sample, SampleResult

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


def _no_final_answer(result: SampleResult, judgement: Judgement, channel: Channel) -> float | None:
    """An unscored answer after truncated thinking counts as incorrect (no final answer was given)."""
    if channel == "answer" and result.completion.reasoning_truncated and not result.completion.error:
        return 0.0
    return None


def math_accuracy(*groupings: Callable[[Sample], str | None]) -> tuple[MetricSpec, ...]:
    """Accuracy overall and per grouping; truncated thinking and 'no_answer' count as incorrect."""
    correct = Read("label", value=lambda label: label == "correct", labels=frozenset({"correct", "incorrect", "no_answer"}),
                   unscored=_no_final_answer)
    return (Rate("accuracy", (correct,), higher_is_better=True, by=groupings,
                 description="share of problems answered correctly (truncated thinking or no answer = incorrect)"),)


class MathBenchmark(Benchmark):
    """Shared shape: one file, rows -> (id, problem, reference, category)."""

    file: ClassVar[DataFile]
    required: ClassVar[tuple[str, ...]] = ()
    chinese: ClassVar[bool] = False
    default_judges: ClassVar[tuple[str, ...]] = ("math-answer",)
    headline: ClassVar[str | None] = "accuracy"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = math_accuracy(lambda sample: "/".join(sample.category) or None)

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
