"""Benchmark source files: pinned upstream URL and sha256, a local mirror, a user cache."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict


class DataError(RuntimeError):
    """A benchmark file is missing, corrupt, or malformed."""


class RowError(DataError):
    """A malformed row: names the file and the row."""

    def __init__(self, path: Path | str, row: int | str, reason: str):
        super().__init__(f"{path}: row {row}: {reason}")
        self.path, self.row, self.reason = str(path), row, reason


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


def csv_rows(
    path: Path, columns: tuple[str, ...], *, delimiter: str = ",", non_empty: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, str]]]:
    """(row number, row) pairs of a CSV or TSV file, numbered as lines with the header as 1.

    A header without `columns`, or a row with an empty `non_empty` column, is a RowError.
    """
    import csv

    with Path(path).open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise RowError(path, 1, f"header lacks columns {missing}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if any(not (row.get(c) or "").strip() for c in non_empty):
                raise RowError(path, line, f"needs non-empty {list(non_empty)}")
            rows.append((line, row))
    return rows


def read_json(path: Path) -> Any:
    """A whole JSON file; invalid JSON is a RowError naming the file and line."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise RowError(path, error.lineno, f"not valid JSON: {error.msg}") from error


def jsonl_rows(path: Path, required: tuple[str, ...] = ()) -> list[tuple[int, dict]]:
    """(line number, object) pairs of a JSONL file; a line that is not an object with `required` is a RowError."""
    import json

    rows = []
    with Path(path).open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as error:
                raise RowError(path, line, f"not JSON: {error}") from error
            if not isinstance(row, dict) or any(row.get(k) in (None, "") for k in required):
                raise RowError(path, line, f"needs fields {list(required)}")
            rows.append((line, row))
    return rows
