"""MCQ answer keys: a user's file (`--option answer_key=FILE`), or a published copy on the Hugging Face hub.

A key maps item ids to option letters. Files: a JSON object `{id: letter}` (values may
also be `{"answer": ...}` objects, as SafetyBench publishes them), a CSV `id,answer`
(header optional), or a parquet file in the `knoveleng/redbench` schema. Letters may be
full-width or lower-case; a value equal to one option's text is that option; otherwise an
integer is read as a 0-based option index (0 -> A).

The hub key (`knoveleng/redbench`, config CHiSafetyBench) is pinned to a revision. On the
first fetch its sha256 is recorded in the cache; a later fetch with other bytes is refused.
Its rows carry no ids, so row i must be our item i: same question text (whitespace and
full-width forms aside), same options where the row lists them, and an answer that is one
of the item's options. A key that fails any check is not used, and the run says why.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from thinksafe.data import DataError, RowError, cache_dir, csv_reason, one_line, parse_json, read_text, sha256_of

LETTERS = "ABCDEFGH"


class KeyItem(BaseModel):
    """What a key is checked against: one MCQ item."""

    id: str
    upstream_id: str
    question: str
    stem: str
    options: dict[str, str]


class AnswerKey(BaseModel):
    letters: dict[str, str] = Field(default_factory=dict, description="sample id -> option letter")
    source: str
    notes: list[str] = Field(default_factory=list)


class HubFile(BaseModel):
    repo_id: str
    revision: str
    filename: str

    @property
    def label(self) -> str:
        return f"{self.repo_id}@{self.revision[:12]}:{self.filename}"


REDBENCH_CHISAFETY = HubFile(
    repo_id="knoveleng/redbench",
    revision="ca573af546cedc39e013d78f2699f67f4bd84200",
    filename="CHiSafetyBench/train-00000-of-00001.parquet",
)


class KeyMismatch(DataError):
    """A published key does not match our items; it is not used."""


def squash(text: str) -> str:
    """Compare texts modulo whitespace and full-width forms."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text)))


def to_letter(value: object, options: dict[str, str]) -> str | None:
    """A key value as an option letter: a letter, a 0-based index, or the option's text."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        index = int(value)
        return LETTERS[index] if 0 <= index < len(LETTERS) else None
    text = squash(value).strip("()[].。:：")
    if len(text) == 1 and text.upper() in LETTERS:
        return text.upper()
    by_text = [letter for letter, option in options.items() if squash(option).rstrip("。.") == text.rstrip("。.")]
    if by_text:  # an option's own text ("4" among options "1".."4" is that option, not an index)
        return by_text[0] if len(by_text) == 1 else None
    return to_letter(int(text), options) if text.isdecimal() else None


def _index(items: list[KeyItem]) -> dict[str, KeyItem]:
    """Items by sample id and by upstream id."""
    out: dict[str, KeyItem] = {}
    for item in items:
        out[item.id] = item
        out.setdefault(item.upstream_id, item)
    return out


def read_key_rows(path: Path) -> dict[str, object]:
    """id -> raw answer from a JSON or CSV key file."""
    if not path.exists():
        raise DataError(f"answer key {path} does not exist")
    if path.suffix.lower() == ".json":
        data = parse_json(read_text(path), path)  # bad UTF-8 or JSON: RowError naming line and column
        if not isinstance(data, dict):
            raise DataError(f"{path}: a JSON answer key is an object mapping id to letter, got {type(data).__name__}")
        return {str(k): (v.get("answer") if isinstance(v, dict) else v) for k, v in data.items()}
    text = read_text(path, row_of=_key_row_at)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []  # the non-blank rows; row numbers below count them from 1
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append(row)
    except csv.Error as error:
        raise RowError(path, len(rows) + 1, csv_reason(error, reader.line_num)) from None
    first = 1
    if rows and [c.strip().lower() for c in rows[0][:2]] == ["id", "answer"]:
        rows, first = rows[1:], 2
    out: dict[str, object] = {}
    for line, row in enumerate(rows, start=first):
        if len(row) < 2:
            raise RowError(path, line, f"expected id,answer, got {one_line(repr(row), 120)}")
        key = row[0].strip()
        if key in out:
            raise RowError(path, line, f"id {key!r} is given twice")
        out[key] = row[1].strip()
    return out


def _key_row_at(before: str) -> int:
    """The non-blank CSV row (first = 1) that the end of `before` falls in."""
    rows = [row for row in csv.reader(io.StringIO(before, newline="")) if row and any(c.strip() for c in row)]
    return len(rows) + (1 if not before or before.endswith(("\n", "\r")) else 0) or 1


def key_from_rows(raw: dict[str, object], items: list[KeyItem], source: str) -> AnswerKey:
    """Check every id and letter against the items; unknown ids and non-options are errors."""
    index = _index(items)
    unknown = [k for k in raw if k not in index]
    if unknown:
        raise DataError(f"{source}: {len(unknown)} ids are not items of this benchmark, e.g. {unknown[:5]}")
    letters: dict[str, str] = {}
    for key, value in raw.items():
        item = index[key]
        letter = to_letter(value, item.options)
        if letter is None or letter not in item.options:
            raise DataError(f"{source}: item {key}: answer {value!r} is not one of its options {'/'.join(item.options)}")
        letters[item.id] = letter
    notes = []
    if len(letters) < len(items):
        notes.append(f"the key covers {len(letters)} of {len(items)} items; accuracy is over the covered items")
    return AnswerKey(letters=letters, source=source, notes=notes)


def load_key_file(path: Path, items: list[KeyItem]) -> AnswerKey:
    """`--option answer_key=FILE`: JSON, CSV, or a parquet file in the redbench schema."""
    if path.suffix.lower() == ".parquet":
        key = verify_redbench(path, items)
        return key.model_copy(update={"source": f"{path} (redbench schema, sha256 {sha256_of(path)})"})
    return key_from_rows(read_key_rows(path), items, f"{path} (sha256 {sha256_of(path)})")


# ---------------------------------------------------------------------------- hub


def _parse_choices(value: object) -> list[str] | None:
    """A row's choices: a list, a JSON or Python list literal, or `A. x` lines."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    if hasattr(value, "tolist"):
        return [str(v) for v in value.tolist()]
    text = str(value).strip()
    if not text:
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            parsed = parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(parsed, (list, tuple)):
            return [str(v) for v in parsed]
        if isinstance(parsed, dict):
            return [str(v) for v in parsed.values()]
    lines = [re.sub(r"^\s*[(（]?[A-HＡ-Ｈ]\s*[.．、:：)）]\s*", "", line) for line in text.splitlines() if line.strip()]
    return lines or None


def _row_matches(row: dict, item: KeyItem) -> str | None:
    """None when the row is this item, else why not."""
    if row.get("id") not in (None, "") and str(row["id"]).strip() not in {item.id, item.upstream_id}:
        return f"id {row['id']!r} is not {item.upstream_id}"
    prompt = squash(row.get("prompt") or "")
    if not prompt or not (prompt == squash(item.question) or squash(item.stem) in prompt):
        return "question text differs"
    choices = _parse_choices(row.get("choices"))
    if choices:
        theirs = [squash(c).rstrip("。.") for c in choices]
        ours = [squash(o).rstrip("。.") for o in item.options.values()]
        if theirs != ours:
            return f"options differ ({len(theirs)} listed, {len(ours)} in the question)"
    return None


def _row_letter(row: dict, item: KeyItem) -> str | None:
    value = row.get("answer")
    letter = to_letter(value, item.options)
    if letter is None:
        choices = _parse_choices(row.get("choices")) or []
        matches = [i for i, c in enumerate(choices) if squash(c) == squash(value or "")]
        letter = LETTERS[matches[0]] if len(matches) == 1 else None
    return letter if letter in item.options else None


def verify_redbench(path: Path, items: list[KeyItem]) -> AnswerKey:
    """Row i must be item i (text, options) with an answer among its options; else KeyMismatch."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # noqa: BLE001 - pyarrow raises its own types for a corrupt file
        raise KeyMismatch(f"{path}: not a readable parquet file: {type(error).__name__}: {one_line(error)}") from error
    missing = {"prompt", "answer"} - set(table.column_names)
    if missing:
        raise KeyMismatch(f"{path}: columns {sorted(missing)} missing (has {table.column_names})")
    rows = table.to_pylist()
    if len(rows) != len(items):
        raise KeyMismatch(f"{path}: {len(rows)} rows, expected {len(items)} (one per item, in file order)")
    problems: list[str] = []
    letters: dict[str, str] = {}
    for number, (row, item) in enumerate(zip(rows, items), start=1):
        why = _row_matches(row, item)
        letter = _row_letter(row, item) if why is None else None
        if why is None and letter is None:
            why = f"answer {row.get('answer')!r} is not one of the options {'/'.join(item.options)}"
        if why is not None:
            problems.append(f"row {number} (item {item.upstream_id}): {why}")
        else:
            letters[item.id] = letter  # type: ignore[assignment]
    if problems:
        raise KeyMismatch(f"{path}: {len(problems)} of {len(rows)} rows do not match our items, e.g. {problems[:3]}")
    return AnswerKey(
        letters=letters, source=str(path), notes=[f"{len(rows)}/{len(items)} rows match our ids and question texts"]
    )


def _hub_download(spec: HubFile, offline: bool) -> Path:
    """The pinned file through huggingface_hub (its own cache; only that cache when offline)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as error:
        raise DataError("huggingface_hub is not installed (pip install 'thinksafe[hf]')") from error
    try:
        return Path(
            hf_hub_download(
                repo_id=spec.repo_id, filename=spec.filename, repo_type="dataset", revision=spec.revision,
                cache_dir=str(cache_dir() / "hf"), local_files_only=offline,
            )
        )
    except Exception as error:  # noqa: BLE001 - network, auth and cache misses all mean "no key"
        raise DataError(f"cannot fetch {spec.label}: {type(error).__name__}: {error}") from error


def _ledger(spec: HubFile) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "--", f"{spec.repo_id}@{spec.revision}:{spec.filename}")
    return cache_dir() / "answer_keys" / f"{safe}.json"


def check_recorded_sha(spec: HubFile, path: Path) -> str:
    """Record the sha256 on first fetch; later fetches must match it. Returns a description."""
    digest = sha256_of(path)
    ledger = _ledger(spec)
    if ledger.exists():
        recorded = parse_json(read_text(ledger), ledger)
        if not isinstance(recorded, dict) or not {"sha256", "recorded_at"} <= set(recorded):
            raise DataError(f"{ledger}: not a sha256 record (delete it to record the key again)")
        if recorded["sha256"] != digest:
            raise KeyMismatch(
                f"{spec.label} has sha256 {digest}, but {recorded['sha256']} was recorded on first fetch "
                f"({recorded['recorded_at']}, {ledger}); refusing the changed file"
            )
        return f"sha256 {digest}, as recorded on first fetch {recorded['recorded_at']}"
    ledger.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    ledger.write_text(json.dumps({"sha256": digest, "recorded_at": stamp, "file": spec.label}, indent=1), encoding="utf-8")
    return f"sha256 {digest}, recorded now on first fetch ({ledger})"


def hub_key(items: list[KeyItem], spec: HubFile = REDBENCH_CHISAFETY, offline: bool | None = None) -> tuple[AnswerKey | None, str]:
    """The published key when reachable and verified, else None; the string says what happened."""
    if offline is None:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("THINKSAFE_OFFLINE") == "1"
    try:
        path = _hub_download(spec, offline)
        sha = check_recorded_sha(spec, path)
        key = verify_redbench(path, items)
    except DataError as error:
        return None, f"no answer key from the hub ({str(error).splitlines()[0]})"
    source = f"{spec.label} ({sha}; {key.notes[0]}; a third-party key, not published by the benchmark's authors)"
    return key.model_copy(update={"source": source, "notes": []}), source
