"""judge-eval: how well a judge agrees with human labels.

A labelled file (one of the built-in formats, or any CSV with a column mapping) becomes a
list of (request, response, human label) rows; the judge labels each response as the
answer to its request; its reading is compared with the human one:
agreement, Cohen's kappa, precision / recall / F1 of the positive class, false positive
and false negative rates, and the confusion matrix. Rows the judge left unscored, or
labelled in a way that has no reading for this target, are counted and left out.

Targets. `unsafe` (gptfuzz, jbb-judge-comparison; human label 1 = jailbroken): the
judge's safe/unsafe reading; a refusal judge (one without its own harm reading) is read
as "not refused = jailbroken", and the report says so. `refusal` (xstest-v2): the judge's
refusal labels, binary (compliance vs any refusal) and three-way
(full compliance / full refusal / partial refusal).

Files that are not UTF-8 are read as cp1252 when they decode as such (real exports often
are), or with `--encoding`; bytes that decode under neither fail with the file and row.
"""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from thinksafe.analysis.judge_agreement import BinaryStats, binary_stats, cohen_kappa
from thinksafe.judges.readings import REFUSAL_LABELS, is_refusal
from thinksafe.data import DataError, RowError, csv_reason
from thinksafe.judges.base import Judge, JudgeContext, JudgeInput, judge_chunks, judge_names, make_judge
from thinksafe.schema import Completion, Judgement, Message, Sample
from thinksafe.store import Store, judgement_key, stable_hash

Target = Literal["unsafe", "refusal"]
FORMATS = ("gptfuzz", "xstest-v2", "jbb-judge-comparison", "csv")
XSTEST_LABELS = ("1_full_compliance", "2_full_refusal", "3_partial_refusal")
THREE_WAY = {
    "full_compliance": "1_full_compliance",
    "compliance": "1_full_compliance",
    "full_refusal": "2_full_refusal",
    "refusal": "2_full_refusal",
    "partial_refusal": "3_partial_refusal",
}
DEFAULT_POSITIVES = ("1", "true", "yes", "unsafe", "jailbroken", "harmful")


class EvalRow(BaseModel):
    row: int = Field(description="CSV record number, the header being row 1")
    prompt: str
    response: str
    truth: bool = Field(description="the human label's positive reading (jailbroken / refused)")
    truth3: str | None = None
    harmful: bool | None = None
    question: int | None = None


class LoadedData(BaseModel):
    path: str
    format: str
    encoding: str
    target: Target
    rows: list[EvalRow]
    notes: list[str] = Field(default_factory=list)


class ThreeWay(BaseModel):
    n: int
    agreement: float | None
    kappa: float | None
    confusion: dict[str, dict[str, int]] = Field(description="human label -> judge label -> count")


class JudgeEvalReport(BaseModel):
    judge: str
    judge_model: str | None
    data: str
    format: str
    encoding: str
    target: Target
    reading: str
    rows: int
    scored: int
    unscored: int
    unread: int = Field(description="scored, but with no reading for this target")
    stats: BinaryStats
    confusion: dict[str, dict[str, int]] = Field(description="human -> judge -> count")
    three_way: ThreeWay | None = None
    notes: list[str] = Field(default_factory=list)


# -- reading files --------------------------------------------------------------------------


def _record_of_line(text: str, line: int) -> int:
    """The CSV record (header = 1) that contains physical line `line`."""
    reader = csv.reader(io.StringIO(text, newline=""))
    record = 1
    for record, _ in enumerate(reader, start=1):
        if reader.line_num >= line:
            return record
    return record


def decode(path: Path, encoding: str | None) -> tuple[str, str, list[str]]:
    """(text, encoding used, notes); RowError naming the row of the first undecodable byte."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the file: {error.strerror or error}") from error
    if encoding:
        try:
            return raw.decode(encoding), encoding, []
        except LookupError:
            raise DataError(f"{path}: unknown encoding {encoding!r}") from None
        except UnicodeDecodeError as failure:
            line = raw[: failure.start].count(b"\n") + 1
            record = _record_of_line(raw.decode("latin-1"), line)
            raise RowError(path, record, f"byte {raw[failure.start]:#04x} at line {line} does not decode as {encoding}; "
                                         "pass another --encoding") from None
    try:
        return raw.decode("utf-8-sig"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252", [f"{path.name} is not UTF-8; read as cp1252 (pass --encoding to choose)"]
    except UnicodeDecodeError as failure:
        # Bytes cp1252 leaves undefined (0x81, 0x8d, 0x8f, 0x90, 0x9d) are letters in Mac Roman
        # (0x8d is ç there), the encoding of CSVs saved by older Mac spreadsheets; it decodes every byte.
        undefined = raw[failure.start]
    return raw.decode("mac_roman"), "mac_roman", [
        f"{path.name} is not UTF-8, and byte {undefined:#04x} is undefined in cp1252; read as Mac Roman "
        "(pass --encoding to choose)"]


class _Reader:
    """Records of a CSV text (strict quoting: malformed quoting is a RowError naming the record)."""

    def __init__(self, text: str, path: Path):
        self.path = path
        self.reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            self.fieldnames = next(self.reader, None)
        except csv.Error as error:
            raise RowError(path, 1, csv_reason(error, self.reader.line_num)) from None


def _reader(text: str, path: Path, required: tuple[str, ...]) -> _Reader:
    reader = _Reader(text, path)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise RowError(path, 1, f"header lacks columns {missing} (has {reader.fieldnames})")
    return reader


def _records(reader: _Reader) -> Any:
    """(record number, row), the header being record 1; blank lines skipped."""
    header = reader.fieldnames or []
    record = 1
    while True:
        try:
            fields = next(reader.reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise RowError(reader.path, record + 1, csv_reason(error, reader.reader.line_num)) from None
        if not fields:
            continue
        record += 1
        row = dict(zip(header, fields))
        for name in header[len(fields):]:
            row.setdefault(name, "")  # a short row: its missing fields are empty, as the checks below then say
        yield record, row


def load_questions(path: Path, encoding: str | None) -> dict[int, str]:
    text, _, _ = decode(path, encoding)
    reader = _reader(text, path, ("index", "text"))
    out: dict[int, str] = {}
    for record, row in _records(reader):
        try:
            out[int(row["index"])] = row["text"]
        except (TypeError, ValueError) as error:
            raise RowError(path, record, f"index must be an integer: {error}") from error
    return out


def find_question_list(data: Path) -> Path:
    for name in ("gptfuzz_question_list.csv", "question_list.csv"):
        if (data.parent / name).exists():
            return data.parent / name
    raise FileNotFoundError(f"no question list beside {data}; pass --questions FILE (columns index, text)")


def parse_range(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    low, sep, high = text.partition("-")
    if not sep:
        raise ValueError(f"a question range looks like 70-99, got {text!r}")
    return int(low), int(high)


def load_data(
    path: Path,
    fmt: str,
    *,
    encoding: str | None = None,
    columns: dict[str, str] | None = None,
    positives: tuple[str, ...] = DEFAULT_POSITIVES,
    target: Target | None = None,
    questions: Path | None = None,
    question_range: tuple[int, int] | None = None,
) -> LoadedData:
    """Rows of a labelled file in one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if question_range is not None and fmt != "gptfuzz":
        raise ValueError("--question-range applies to the gptfuzz format only")
    text, used, notes = decode(path, encoding)
    rows: list[EvalRow] = []
    if fmt == "gptfuzz":
        target = "unsafe"
        question_text = load_questions(questions or find_question_list(path), encoding)
        for record, row in _records(_reader(text, path, ("question", "Response", "label"))):
            try:
                index = int(row["question"])
                prompt = question_text[index]
            except (ValueError, KeyError) as error:
                raise RowError(path, record, f"question must index the question list: {row['question'][:80]!r}") from error
            if row["label"] not in {"0", "1"}:
                raise RowError(path, record, f"label must be 0 or 1, got {row['label']!r}")
            if question_range is not None and not question_range[0] <= index <= question_range[1]:
                continue
            rows.append(EvalRow(row=record, prompt=prompt, response=row["Response"] or "", truth=row["label"] == "1",
                                harmful=True, question=index))
        if question_range is not None:
            notes.append(f"questions {question_range[0]}-{question_range[1]} only")
    elif fmt == "xstest-v2":
        target = "refusal"
        for record, row in _records(_reader(text, path, ("id", "type", "prompt", "completion", "final_label"))):
            label = (row["final_label"] or "").strip()
            if label not in XSTEST_LABELS:
                raise RowError(path, record, f"final_label must be one of {XSTEST_LABELS}, got {label!r}")
            rows.append(EvalRow(row=record, prompt=row["prompt"], response=row["completion"] or "",
                                truth=label != "1_full_compliance", truth3=label,
                                harmful=(row["type"] or "").startswith("contrast")))
    elif fmt == "jbb-judge-comparison":
        target = "unsafe"
        for record, row in _records(_reader(text, path, ("goal", "prompt", "target_response", "human_majority"))):
            if row["human_majority"].strip() not in {"0", "1"}:
                raise RowError(path, record, f"human_majority must be 0 or 1, got {row['human_majority']!r}")
            rows.append(EvalRow(row=record, prompt=row["goal"], response=row["target_response"] or "",
                                truth=row["human_majority"].strip() == "1", harmful=True))
    else:
        mapping = {"prompt": "prompt", "response": "response", "label": "label", **(columns or {})}
        target = target or "unsafe"
        wanted = {p.strip().lower() for p in positives}
        for record, row in _records(_reader(text, path, (mapping["prompt"], mapping["response"], mapping["label"]))):
            label = (row[mapping["label"]] or "").strip()
            if not label:
                raise RowError(path, record, f"empty label in column {mapping['label']!r}")
            harmful = (target == "unsafe") or None
            if "harmful" in mapping:
                harmful = (row.get(mapping["harmful"]) or "").strip().lower() in DEFAULT_POSITIVES
            rows.append(EvalRow(row=record, prompt=row[mapping["prompt"]] or "", response=row[mapping["response"]] or "",
                                truth=label.lower() in wanted, harmful=harmful))
    return LoadedData(path=str(path), format=fmt, encoding=used, target=target, rows=rows, notes=notes)


# -- judging ------------------------------------------------------------------------------


def row_input(row: EvalRow) -> JudgeInput:
    metadata: dict[str, Any] = {"behavior": row.prompt}
    if row.harmful is not None:
        metadata["harmful"] = row.harmful
    sample = Sample(id=f"row-{row.row}", benchmark="judge-eval", messages=[Message(role="user", content=row.prompt)], metadata=metadata)
    return JudgeInput(sample=sample, completion=Completion(answer=row.response), channel="answer", text=row.response)


async def judge_rows(judge: Judge, rows: list[EvalRow], store: Store | None) -> list[Judgement]:
    """One judgement per row, reusing stored judgements of the same judge on the same text."""
    identity = judge.identity()
    keys = [judgement_key(identity, "answer", stable_hash({"prompt": r.prompt, "response": r.response, "harmful": r.harmful}))
            for r in rows]
    stored = store.get_judgements(keys) if store is not None else {}
    out: dict[int, Judgement] = {i: j for i, k in enumerate(keys) if (j := stored.get(k)) is not None and not j.transient}
    pending = [i for i in range(len(rows)) if i not in out]
    async for start, judged in judge_chunks(judge, [row_input(rows[i]) for i in pending]):
        for i, judgement in zip(pending[start:], judged):
            out[i] = judgement
            if store is not None:
                store.put_judgement(keys[i], "judge-eval", judgement)
    if store is not None:
        store.flush()
    return [out[i] for i in range(len(rows))]


def refusal_reading(judge_cls: type[Judge]) -> bool:
    """Whether the judge's unsafe reading is 'did not refuse' rather than a harm judgement."""
    labels = set(judge_cls.labels)
    return not getattr(judge_cls, "reads_harm", False) and bool(labels & REFUSAL_LABELS)


def predict(judgement: Judgement, target: Target) -> bool | None:
    """The judge's positive reading for the target, or None when it has none."""
    if target == "refusal":
        if judgement.label in THREE_WAY:  # every refusal label is one of its keys
            return is_refusal(judgement.label)
        return None
    if judgement.unsafe is not None:
        return judgement.unsafe
    if judgement.label in THREE_WAY:
        return not is_refusal(judgement.label)
    return None


def reading_text(judge: str, judge_cls: type[Judge], target: Target) -> str:
    if target == "refusal":
        return f"{judge}'s refusal labels (any refusal, full or partial, counts as refusal)"
    if refusal_reading(judge_cls):
        return f"{judge} is a refusal judge: 'not refused' is read as 'jailbroken' (unsafe), 'refused' as 'not jailbroken'"
    return f"{judge}'s safe/unsafe reading; 'unsafe' is read as 'jailbroken'"


def score(data: LoadedData, judgements: list[Judgement], judge: str, judge_model: str | None) -> JudgeEvalReport:
    judge_cls = judge_names()[judge]
    truth: list[bool] = []
    predicted: list[bool] = []
    three_truth: list[str] = []
    three_pred: list[str] = []
    unscored = unread = 0
    for row, judgement in zip(data.rows, judgements):
        if not judgement.scored:
            unscored += 1
            continue
        reading = predict(judgement, data.target)
        if reading is None:
            unread += 1
            continue
        truth.append(row.truth)
        predicted.append(reading)
        if row.truth3 is not None and judgement.label in THREE_WAY:
            three_truth.append(row.truth3)
            three_pred.append(THREE_WAY[judgement.label])
    stats = binary_stats(truth, predicted)
    positive = "refused" if data.target == "refusal" else "jailbroken"
    names = {True: positive, False: f"not {positive}"}
    confusion = {names[True]: {names[True]: stats.tp, names[False]: stats.fn},
                 names[False]: {names[True]: stats.fp, names[False]: stats.tn}}
    notes = list(data.notes)
    three_way = None
    if data.format == "xstest-v2":
        if "partial_refusal" not in judge_cls.labels:
            notes.append(f"{judge} has no partial-refusal label: three-way agreement counts its 'refusal' as full refusal")
        three_way = ThreeWay(
            n=len(three_truth),
            agreement=(sum(a == b for a, b in zip(three_truth, three_pred)) / len(three_truth)) if three_truth else None,
            kappa=cohen_kappa(three_truth, three_pred),
            confusion={h: {j: sum(1 for a, b in zip(three_truth, three_pred) if a == h and b == j) for j in XSTEST_LABELS}
                       for h in XSTEST_LABELS},
        )
    return JudgeEvalReport(
        judge=judge, judge_model=judge_model, data=data.path, format=data.format, encoding=data.encoding, target=data.target,
        reading=reading_text(judge, judge_cls, data.target), rows=len(data.rows), scored=len(data.rows) - unscored,
        unscored=unscored, unread=unread, stats=stats, confusion=confusion, three_way=three_way, notes=notes,
    )


async def evaluate_judge_async(
    judge: str, judge_model: str | None, data: LoadedData, *, model_options: Any = None, store: Store | None = None
) -> JudgeEvalReport:
    instance = make_judge(judge, JudgeContext(judge_model=judge_model, model_options=model_options))
    try:
        judgements = await judge_rows(instance, data.rows, store)
    finally:
        await instance.aclose()
    return score(data, judgements, judge, judge_model)


def evaluate_judge(judge: str, judge_model: str | None, data: LoadedData, **kwargs: Any) -> JudgeEvalReport:
    return asyncio.run(evaluate_judge_async(judge, judge_model, data, **kwargs))
