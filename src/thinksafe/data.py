"""Benchmark source files: pinned upstream URL and sha256, a local mirror, a user cache."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from thinksafe.errors import ThinksafeError


class DataError(ThinksafeError, RuntimeError):
    """A benchmark file is missing, corrupt, or malformed."""


class RowError(DataError):
    """A malformed row: names the file and the row."""

    def __init__(self, path: Path | str, row: int | str, reason: str):
        super().__init__(f"{path}: row {row}: {one_line(reason)}")
        self.path, self.row, self.reason = str(path), row, reason


def one_line(text: object, limit: int = 300) -> str:
    """`text` on one line (whitespace runs collapsed), cut to `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class DataFile(BaseModel):
    """One upstream file a benchmark reads, pinned by URL and content hash."""

    model_config = ConfigDict(frozen=True)

    benchmark: str = ""
    name: str
    url: str
    sha256: str | None = None

    def mirror_path(self, data_dir: Path) -> Path:
        return data_dir / self.benchmark / self.name


def cache_dir() -> Path:
    return Path(os.environ.get("THINKSAFE_CACHE", Path.home() / ".cache" / "thinksafe"))


def default_data_dir() -> Path | None:
    value = os.environ.get("THINKSAFE_DATA_DIR")
    return Path(value) if value else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_bytes(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> bytes:
    """The body at `url` (redirects followed); DataError saying why when the request fails."""
    import httpx

    try:
        response = httpx.get(url, headers=headers or {}, follow_redirects=True, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise DataError(str(error)) from error
    return response.content


def write_atomic(target: Path, content: bytes) -> None:
    """Write through a .part file, so a kill never leaves a truncated file under the real name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.write_bytes(content)
    partial.replace(target)


class DataResolver:
    """Finds a benchmark file: the mirror first, then the cache, then the network."""

    def __init__(self, data_dir: Path | str | None = None, offline: bool | None = None):
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        if offline is None:
            offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("THINKSAFE_OFFLINE") == "1"
        self.offline = offline

    def path(self, file: DataFile) -> Path:
        if self.data_dir is not None:
            mirrored = file.mirror_path(self.data_dir)
            if mirrored.exists():
                self._check(file, mirrored)
                return mirrored
        cached = cache_dir() / file.benchmark / file.name
        if cached.exists():
            self._check(file, cached)
            return cached
        if self.offline:
            raise DataError(self._missing_message(file, "offline mode is on"))
        return self._download(file, cached)

    def _check(self, file: DataFile, path: Path) -> None:
        if file.sha256 and sha256_of(path) != file.sha256:
            raise DataError(
                f"{path} does not match the pinned sha256 {file.sha256} of {file.url}; "
                "replace it with the upstream file"
            )

    def _download(self, file: DataFile, target: Path) -> Path:
        try:
            content = fetch_bytes(file.url)
        except DataError as error:
            raise DataError(self._missing_message(file, f"download failed: {error}")) from error
        digest = hashlib.sha256(content).hexdigest()
        if file.sha256 and digest != file.sha256:
            raise DataError(f"{file.url} returned content with sha256 {digest}, expected {file.sha256}")
        write_atomic(target, content)
        return target

    def _missing_message(self, file: DataFile, why: str) -> str:
        mirror = file.mirror_path(self.data_dir) if self.data_dir else Path("<data-dir>") / file.benchmark / file.name
        return (
            f"cannot get {file.benchmark}/{file.name} ({why}). Download {file.url} and place it at "
            f"{mirror} (a mirror directory given by --data-dir or THINKSAFE_DATA_DIR), "
            f"or at {cache_dir() / file.benchmark / file.name}."
        )


def read_text(path: Path, *, encoding: str = "utf-8-sig", row_of: Callable[[str], int] | None = None) -> str:
    """A whole file as text. An unreadable file is a DataError; bytes that do not decode are a RowError
    naming the byte offset, line and column, and the row: `row_of(text before the bad byte)`, else the line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the file: {error.strerror or error}") from error
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as error:
        before = raw[: error.start].decode(encoding, errors="replace")
        line = before.count("\n") + 1
        column = len(before) - (before.rfind("\n") + 1) + 1
        at = f"byte {error.start} (line {line} column {column})"
        name = "UTF-8" if encoding.lower().replace("_", "-").startswith("utf-8") else encoding
        reason = f"byte {raw[error.start]:#04x} at {at} is not valid {name}"
        raise RowError(path, row_of(before) if row_of else line, reason) from None


def _csv_record_at(delimiter: str) -> Callable[[str], int]:
    """The CSV record number (header = 1) that the end of `text` falls in."""
    import csv

    def record(text: str) -> int:
        count = 0
        try:
            for count, _ in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), start=1):
                pass
        except csv.Error:
            pass
        return count + 1 if not text or text.endswith(("\n", "\r")) else max(count, 1)

    return record


def csv_reason(error: Exception, line: int) -> str:
    """A csv.Error in words, with the physical line where the reader stopped."""
    text = str(error)
    if "unexpected end of data" in text or "EOF" in text:
        return f"unterminated quoted field (the file ends inside a quote opened by line {line} or before)"
    if "field larger than field limit" in text:
        return f"a field is larger than the CSV field limit (line {line}); is a quote unterminated?"
    return f"malformed CSV at line {line}: {text}"


def csv_rows(
    path: Path, columns: tuple[str, ...], *, delimiter: str = ",", non_empty: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, str]]]:
    """(row number, row) pairs of a CSV or TSV file, numbered as records with the header as 1.

    A header without `columns`, a row with more or fewer fields than the header, malformed
    quoting (strict CSV: e.g. a quote left open at the end of the file), bytes that are not
    UTF-8, or a row with an empty `non_empty` column, is a RowError naming the file and row.
    """
    import csv

    text = read_text(path, row_of=_csv_record_at(delimiter))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    record = 0  # the last record read; the header is record 1
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        header = next(reader, None)
        record = 1
        if header is None:
            raise RowError(path, 1, "the file is empty (no header)")
        missing = [c for c in columns if c not in header]
        if missing:
            raise RowError(path, 1, f"header lacks columns {missing}")
        for record, fields in enumerate(reader, start=2):
            if not fields:
                continue  # a blank line
            if len(fields) != len(header):
                raise RowError(path, record, f"has {len(fields)} fields, the header has {len(header)}")
            row = dict(zip(header, fields))
            if any(not (row.get(c) or "").strip() for c in non_empty):
                raise RowError(path, record, f"needs non-empty {list(non_empty)}")
            rows.append((record, row))
    except csv.Error as error:
        raise RowError(path, record + 1, csv_reason(error, reader.line_num)) from None
    return rows


def parse_json(text: str, path: Path | str, *, row: int | str | None = None) -> Any:
    """json.loads; an error is a RowError naming `path` and the row (when given) or the line and column."""
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        if row is not None:
            raise RowError(path, row, f"not valid JSON: {error.msg} (column {error.colno})") from None
        where = f"line {error.lineno} column {error.colno}"
        raise RowError(path, error.lineno, f"not valid JSON: {error.msg} ({where}, byte {error.pos})") from None
    except (ValueError, RecursionError) as error:  # e.g. an integer over the digit limit, nesting too deep
        what = "nested too deeply" if isinstance(error, RecursionError) else one_line(error)
        if row is not None:
            raise RowError(path, row, f"not valid JSON: {what}") from None
        raise DataError(f"{path}: not valid JSON: {what}") from None


def read_json(path: Path) -> Any:
    """A whole JSON file; invalid JSON or UTF-8 is a RowError naming the file, and as its row the line
    (the message adds the column and byte offset)."""
    return parse_json(read_text(path), path)


def jsonl_rows(path: Path, required: tuple[str, ...] = ()) -> list[tuple[int, dict]]:
    """(line number, object) pairs of a JSONL file; a line that is not an object with `required`, or
    bytes that are not UTF-8, is a RowError naming the file and line."""
    text = read_text(path, row_of=lambda before: before.count("\n") + 1)
    rows = []
    for line, chunk in enumerate(io.StringIO(text, newline=None), start=1):
        if not chunk.strip():
            continue
        row = parse_json(chunk, path, row=line)
        if not isinstance(row, dict):
            raise RowError(path, line, f"expected a JSON object, got {type(row).__name__}")
        if any(_empty(row.get(k)) for k in required):
            raise RowError(path, line, f"needs fields {list(required)}")
        rows.append((line, row))
    return rows


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and value == "")


ROW_FAILURES = (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError)


@contextmanager
def row_context(path: Path | str, row: int | str) -> Iterator[None]:
    """Within it, a row that has the wrong shape or types (KeyError, TypeError, a failed validation, ...)
    becomes a RowError naming the file and row; DataErrors pass through."""
    try:
        yield
    except DataError:
        raise
    except ROW_FAILURES as error:
        raise RowError(path, row, f"cannot read the row: {type(error).__name__}: {error}") from error


def claim_id(seen: dict[str, int | str], raw: object, path: Path | str, row: int | str, prefix: str = "") -> str:
    """`prefix + raw` as a sample id, once: an empty id, or one an earlier row took, is a RowError."""
    value = str(raw if raw is not None else "").strip()
    if not value:
        raise RowError(path, row, "empty id")
    sample_id = prefix + value
    if sample_id in seen:
        raise RowError(path, row, f"id {value!r} repeats the id of row {seen[sample_id]}")
    seen[sample_id] = row
    return sample_id
