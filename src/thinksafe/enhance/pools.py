"""Prompt pools for the fine-tuning set: harmful, benign look-alike and math, by name.

A pool is named on the command line: a built-in name below, or `file:PATH` for a JSONL
file of the user's own (one object a line: `prompt` or `messages`, optional `id`,
`category`, `answer`, `answer_type` ("math" or "choice"), `lang`). Built-in pools read
their upstream files through the pinned DataFile / DataResolver mechanism (the local
mirror first), with the pins, readers and prompt wording of the benchmark modules that
evaluate on the same files.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from thinksafe.benchmarks.chisafetybench import SINGLE_TURN, ChiSafetyQA
from thinksafe.benchmarks.cyberseceval import MITRE_FRR, read_rows
from thinksafe.benchmarks.harmbench import SPLITS as HARMBENCH_SPLITS
from thinksafe.benchmarks.harmbench import behavior_prompt
from thinksafe.benchmarks.math_reasoning import INSTRUCTION_EN, INSTRUCTION_ZH, QWEN_MATH, gsm8k_answer
from thinksafe.benchmarks.strongreject import STRONGREJECT_CSV
from thinksafe.benchmarks.wildjailbreak import WILDJAILBREAK_EVAL
from thinksafe.data import DataError, DataFile, DataResolver, RowError, csv_rows, jsonl_rows
from thinksafe.schema import Message
from thinksafe.text import prompt_fingerprint

Kind = Literal["harmful", "benign", "math"]
CJK = re.compile(r"[\u4e00-\u9fff]")

# GSM8K's training split: not in the mirror and not pinned by hash (read from GitHub when reachable).
GSM8K_TRAIN = DataFile(
    benchmark="gsm8k", name="train.jsonl",
    url="https://raw.githubusercontent.com/openai/grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data/train.jsonl",
)
GAOKAO2023EN = DataFile(
    benchmark="gaokao2023en", name="test.jsonl", url=f"{QWEN_MATH}/gaokao2023en/test.jsonl",
    sha256="654d8f49bdb86f578c171dbc0dd8f4d9f1bf3d7a7438f60359fda7d643df4951",
)
CN_MIDDLE_SCHOOL = DataFile(
    benchmark="cn_middle_school", name="test.jsonl", url=f"{QWEN_MATH}/cn_middle_school/test.jsonl",
    sha256="d768b866b72ecd1ddcaa84acb56d7bd70d759fbb2cdb0c2bc63f1e5befdb58d6",
)
GAOKAO_MATH_QA = DataFile(
    benchmark="gaokao_math_qa", name="test.jsonl", url=f"{QWEN_MATH}/gaokao_math_qa/test.jsonl",
    sha256="4717f8ab70130e277da9056261e3d63f1f6b062049b97b2d204299917da656fb",
)

CHOICE_INSTRUCTION_ZH = "请一步一步地推理，并把所选选项的字母写在 \\boxed{} 中。"


class PoolItem(BaseModel):
    """One training prompt: the conversation up to the final user turn, and a math reference."""

    id: str
    pool: str
    kind: Kind
    messages: list[Message]
    category: str = ""
    lang: Literal["en", "zh"] = "en"
    answer: str | None = None
    answer_type: Literal["math", "choice"] = "math"
    metadata: dict = Field(default_factory=dict)

    @property
    def prompt(self) -> str:
        return next((m.content for m in reversed(self.messages) if m.role == "user"), "")

    @functools.cached_property
    def fingerprint(self) -> str:
        """The normalised prompt's sha256 (text.prompt_fingerprint), computed once per item."""
        return prompt_fingerprint(self.prompt)


class PoolResult(BaseModel):
    """What a pool contributed: items, and notes (a hub pool that was not reachable, the held-out half)."""

    items: list[PoolItem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    heldout: list[PoolItem] = Field(default_factory=list, description="items kept back for evaluation")


def lang_of(text: str) -> Literal["en", "zh"]:
    return "zh" if CJK.search(text) else "en"


def user_item(pool: str, kind: Kind, row_id: str, prompt: str, category: str = "", **extra) -> PoolItem:
    return PoolItem(
        id=f"{pool}:{row_id}", pool=pool, kind=kind, messages=[Message(role="user", content=prompt)],
        category=category, lang=lang_of(prompt), **extra,
    )


HARMBENCH_COLUMNS = ("Behavior", "SemanticCategory", "BehaviorID")
STRONGREJECT_COLUMNS = ("category", "forbidden_prompt")
WILDJAILBREAK_COLUMNS = ("adversarial", "data_type")


def harmbench(data: DataResolver, seed: int) -> PoolResult:
    """HarmBench behaviours (all 400); contextual ones carry their context before the request."""
    path = data.path(HARMBENCH_SPLITS["all"])
    items = []
    for _, row in csv_rows(path, HARMBENCH_COLUMNS, non_empty=HARMBENCH_COLUMNS):
        prompt = behavior_prompt(row["Behavior"], (row.get("ContextString") or "").strip() or None)
        items.append(user_item("harmbench", "harmful", row["BehaviorID"], prompt, row["SemanticCategory"]))
    return PoolResult(items=items)


def strongreject(data: DataResolver, seed: int) -> PoolResult:
    path = data.path(STRONGREJECT_CSV)
    rows = csv_rows(path, STRONGREJECT_COLUMNS, non_empty=STRONGREJECT_COLUMNS)
    return PoolResult(items=[user_item("strongreject", "harmful", str(i), r["forbidden_prompt"], r["category"]) for i, r in rows])


def _wildjailbreak(data: DataResolver, data_type: str, kind: Kind, pool: str) -> PoolResult:
    path = data.path(WILDJAILBREAK_EVAL)
    rows = csv_rows(path, WILDJAILBREAK_COLUMNS, delimiter="\t", non_empty=WILDJAILBREAK_COLUMNS)
    items = [user_item(pool, kind, str(line), r["adversarial"], data_type) for line, r in rows if r["data_type"] == data_type]
    return PoolResult(items=items)


def wildjailbreak_harmful(data: DataResolver, seed: int) -> PoolResult:
    return _wildjailbreak(data, "adversarial_harmful", "harmful", "wildjailbreak-harmful")


def wildjailbreak_benign(data: DataResolver, seed: int) -> PoolResult:
    return _wildjailbreak(data, "adversarial_benign", "benign", "wildjailbreak-benign")


def chisafetybench_items(data: DataResolver) -> list[PoolItem]:
    """All CHiSafetyBench QA items (risky questions without, then with dialog history), as the benchmark reads them."""
    items = []
    for sample in ChiSafetyQA().load(data):
        if sample.metadata["setting"] == SINGLE_TURN:
            row_id, lang = f"risky-{sample.metadata['upstream_id']}", lang_of(sample.prompt)
        else:  # h1, h2, ...: the row's position in the file, counted from 1
            row_id, lang = f"dialog-{int(sample.id[1:]) - 1}", "zh"
        items.append(
            PoolItem(
                id=f"chisafetybench:{row_id}", pool="chisafetybench", kind="harmful", messages=sample.messages,
                category=sample.metadata["file_category"], lang=lang,
            )
        )
    return items


def stratified_half(items: list[PoolItem], seed: int) -> tuple[list[PoolItem], list[PoolItem]]:
    """(training half, evaluation half): within each category a seeded shuffle, the first floor(n/2) train."""
    by_category: dict[str, list[PoolItem]] = {}
    for item in items:
        by_category.setdefault(item.category, []).append(item)
    train_ids: set[str] = set()
    for category in sorted(by_category):
        group = sorted(by_category[category], key=lambda x: x.id)
        random.Random(f"{seed}:{category}").shuffle(group)
        train_ids.update(x.id for x in group[: len(group) // 2])
    return [x for x in items if x.id in train_ids], [x for x in items if x.id not in train_ids]


def chisafetybench_train(data: DataResolver, seed: int) -> PoolResult:
    """A seeded, category-stratified half of CHiSafetyBench QA; the other half is for evaluation."""
    train, heldout = stratified_half(chisafetybench_items(data), seed)
    note = f"chisafetybench: {len(train)} items for training, {len(heldout)} held out for evaluation (seed {seed})"
    return PoolResult(items=train, notes=[note], heldout=heldout)


def mitre_frr(data: DataResolver, seed: int) -> PoolResult:
    items = []
    for index, row in enumerate(read_rows(data.path(MITRE_FRR), ("mutated_prompt",))):
        if str(row.get("is_malicious")).lower() == "true":
            continue
        items.append(user_item("cse-mitre-frr", "benign", str(index), row["mutated_prompt"], row.get("attack_type") or ""))
    return PoolResult(items=items)


def _math_item(pool: str, row_id: str, problem: str, answer: str, category: str = "", choice: bool = False) -> PoolItem:
    zh = lang_of(problem) == "zh"
    instruction = CHOICE_INSTRUCTION_ZH if (choice and zh) else INSTRUCTION_ZH if zh else INSTRUCTION_EN
    return user_item(
        pool, "math", row_id, f"{problem}\n\n{instruction}", category, answer=answer, answer_type="choice" if choice else "math",
    )


def gaokao2023en(data: DataResolver, seed: int) -> PoolResult:
    path = data.path(GAOKAO2023EN)
    rows = jsonl_rows(path, ("question",))
    items = [_math_item("gaokao2023en", str(i), r["question"], str(r["answer"])) for i, r in rows if str(r.get("answer") or "").strip()]
    skipped = len(rows) - len(items)
    return PoolResult(items=items, notes=[f"gaokao2023en: {skipped} problems without a reference answer skipped"] if skipped else [])


def cn_middle_school(data: DataResolver, seed: int) -> PoolResult:
    """Chinese middle-school maths: MCQs (options inline, checked by letter) and free-answer problems."""
    path = data.path(CN_MIDDLE_SCHOOL)
    items = []
    for line, row in jsonl_rows(path, ("question",)):
        row_id = str(row.get("idx", line))
        if str(row.get("choice_answer") or "").strip():
            items.append(_math_item("cn_middle_school", row_id, row["question"], row["choice_answer"], choice=True))
        elif str(row.get("answer") or "").strip():
            items.append(_math_item("cn_middle_school", row_id, row["question"], str(row["answer"])))
        else:
            raise RowError(path, line, "needs choice_answer or answer")
    return PoolResult(items=items)


def gaokao_math_qa(data: DataResolver, seed: int) -> PoolResult:
    """Chinese Gaokao MCQs; options rendered under the question; checked by option letter(s)."""
    path = data.path(GAOKAO_MATH_QA)
    items = []
    for line, row in jsonl_rows(path, ("question", "options", "label")):
        options = row["options"]
        if not isinstance(options, dict) or not options:
            raise RowError(path, line, "options must be an object of letter -> text")
        body = "\n".join(f"{k}. {v}" for k, v in options.items())
        problem = f"{row['passage']}\n\n" if row.get("passage") else ""
        problem += f"{row['question']}\n{body}"
        items.append(_math_item("gaokao_math_qa", str(line), problem, row["label"], choice=True))
    return PoolResult(items=items)


def gsm8k_train(data: DataResolver, seed: int) -> PoolResult:
    """GSM8K's 7,473 training problems, when the file is reachable (hub or cache)."""
    try:
        path = data.path(GSM8K_TRAIN)
    except DataError as error:
        return PoolResult(notes=[f"gsm8k-train skipped: {error}"])
    items = []
    for line, row in jsonl_rows(path, ("question", "answer")):
        if "####" not in row["answer"]:
            raise RowError(path, line, "the solution has no '####' answer marker")
        items.append(_math_item("gsm8k-train", str(line), row["question"], gsm8k_answer(row["answer"])))
    return PoolResult(items=items)


def math_train(data: DataResolver, seed: int) -> PoolResult:
    """MATH's training split through the `datasets` hub client, when reachable."""
    from thinksafe.judges.math_answer import last_boxed

    try:
        from datasets import concatenate_datasets, get_dataset_config_names, load_dataset

        name = "EleutherAI/hendrycks_math"
        parts = [load_dataset(name, config, split="train") for config in get_dataset_config_names(name)]
        rows = concatenate_datasets(parts)
    except Exception as error:  # noqa: BLE001 - offline, gated, or no `datasets`: the pool is skipped
        return PoolResult(notes=[f"math-train skipped: {type(error).__name__}: {str(error)[:200]}"])
    items = []
    for index, row in enumerate(rows):
        answer = last_boxed(row.get("solution") or "")
        if answer:
            items.append(_math_item("math-train", str(index), row["problem"], answer, row.get("type") or ""))
    return PoolResult(items=items)


Loader = Callable[[DataResolver, int], PoolResult]

POOLS: dict[str, tuple[Kind, Loader, str]] = {
    "harmbench": ("harmful", harmbench, "HarmBench behaviours (400, English)"),
    "strongreject": ("harmful", strongreject, "StrongREJECT forbidden prompts (313, English)"),
    "wildjailbreak-harmful": ("harmful", wildjailbreak_harmful, "WildJailbreak eval: adversarial harmful (2,000)"),
    "chisafetybench-train": ("harmful", chisafetybench_train, "CHiSafetyBench QA: seeded category-stratified half (Chinese)"),
    "wildjailbreak-benign": ("benign", wildjailbreak_benign, "WildJailbreak eval: adversarial benign (210)"),
    "cse-mitre-frr": ("benign", mitre_frr, "CyberSecEval MITRE false-refusal prompts (750)"),
    "gaokao2023en": ("math", gaokao2023en, "Gaokao 2023 maths, English translation (385)"),
    "cn_middle_school": ("math", cn_middle_school, "Chinese middle-school maths MCQ (101)"),
    "gaokao_math_qa": ("math", gaokao_math_qa, "Chinese Gaokao maths MCQ (351)"),
    "gsm8k-train": ("math", gsm8k_train, "GSM8K train split (7,473), when reachable"),
    "math-train": ("math", math_train, "MATH train split (7,500), from the hub when reachable"),
}

DEFAULT_HARMFUL = ("harmbench", "strongreject", "wildjailbreak-harmful", "chisafetybench-train")
DEFAULT_BENIGN = ("wildjailbreak-benign", "cse-mitre-frr")
DEFAULT_MATH = ("gaokao2023en", "cn_middle_school", "gaokao_math_qa", "gsm8k-train", "math-train")


def file_pool(path: Path, kind: Kind) -> PoolResult:
    """A user's JSONL pool: `prompt` or `messages` per line, optional id/category/answer/answer_type/lang."""
    name = f"file:{path.name}"
    items = []
    for line, row in jsonl_rows(path, ()):
        if row.get("messages"):
            try:
                messages = [Message(role=m["role"], content=m["content"]) for m in row["messages"]]
            except (KeyError, TypeError, ValueError) as error:
                raise RowError(path, line, f"malformed messages: {error}") from error
            if messages[-1].role != "user":
                raise RowError(path, line, "messages must end with a user turn")
        elif row.get("prompt"):
            messages = [Message(role="user", content=str(row["prompt"]))]
        else:
            raise RowError(path, line, "needs `prompt` or `messages`")
        if kind == "math" and not row.get("answer"):
            raise RowError(path, line, "a math pool row needs `answer`")
        text = messages[-1].content
        items.append(
            PoolItem(
                id=f"{name}:{row.get('id', line)}", pool=name, kind=kind, messages=messages,
                category=str(row.get("category") or ""), lang=row.get("lang") or lang_of(text),
                answer=str(row["answer"]) if row.get("answer") is not None else None,
                answer_type=row.get("answer_type") or "math",
            )
        )
    return PoolResult(items=items)


def load_pool(name: str, kind: Kind, data: DataResolver, seed: int) -> PoolResult:
    """A built-in pool by name, or `file:PATH`; a built-in pool of another kind is an error."""
    if name.startswith("file:"):
        path = Path(name[5:])
        if not path.exists():
            raise DataError(f"pool file {path} does not exist")
        return file_pool(path, kind)
    if name not in POOLS:
        raise ValueError(f"unknown pool {name!r}; known: {', '.join(POOLS)} or file:PATH")
    pool_kind, loader, _ = POOLS[name]
    if pool_kind != kind:
        raise ValueError(f"pool {name!r} holds {pool_kind} prompts, not {kind}")
    return loader(data, seed)
