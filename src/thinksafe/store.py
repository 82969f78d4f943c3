"""The embedded SQLite store: generations and judgements keyed by what produced them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from thinksafe.errors import ThinksafeError
from thinksafe.schema import Channel, Completion, GenerationParams, GenerationRequest, Judgement, Message

SCHEMA = """
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    error TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS judgements (
    key TEXT PRIMARY KEY,
    generation_key TEXT NOT NULL,
    judge TEXT NOT NULL,
    channel TEXT NOT NULL,
    judgement TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS judgements_by_generation ON judgements(generation_key);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    benchmark TEXT NOT NULL,
    model TEXT NOT NULL,
    summary TEXT NOT NULL
);
"""


def stable_hash(payload: Any) -> str:
    """sha256 of a canonical JSON rendering."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def generation_key(model: str, params: GenerationParams, messages: list[Message], sample_index: int = 0) -> str:
    return stable_hash(
        {
            "model": model,
            "params": params.cache_fields(),
            "messages": [m.model_dump() for m in messages],
            "sample_index": sample_index,
        }
    )


def request_key(model: str, request: GenerationRequest) -> str:
    """The generation key of one request to `model` (a pre-formatted prompt and chat-template variables are
    part of it; a request with neither keeps the plain key, so older stores still match)."""
    key = generation_key(model, request.params, request.messages, request.sample_index)
    if request.raw_prompt is not None:
        key = stable_hash({"generation": key, "raw_prompt": request.raw_prompt})
    if request.chat_template_kwargs is not None:
        key = stable_hash({"generation": key, "chat_template_kwargs": request.chat_template_kwargs})
    return key


def judgement_key(judge_identity: dict[str, Any], channel: Channel, gen_key: str) -> str:
    return stable_hash({"judge": judge_identity, "channel": channel, "generation": gen_key})


class MergeConflict(ThinksafeError):
    """One key holds different values in two stores being merged; nothing was written."""


def _generation_value(blob: str) -> tuple[dict, bool]:
    """A stored completion as compared in a merge (latency is transport, not what the model said), and
    whether it is an error."""
    value = json.loads(blob)
    value.pop("latency_s", None)
    return value, bool(value.get("error"))


def _judgement_value(blob: str) -> tuple[dict, bool]:
    """A stored judgement as compared in a merge (the judge's display name is set again on every read),
    and whether it is transient (judged again on the next run, as an errored generation is)."""
    value = json.loads(blob)
    value.pop("judge", None)
    return value, bool(value.get("transient") or (value.get("details") or {}).get("transient"))  # (details: older stores)


# table -> (its value column, its columns in insert order (key first), the value as compared and its "retried anyway" flag)
_MERGED = {
    "generations": ("completion", ("key", "model", "completion", "error", "created"), _generation_value),
    "judgements": ("judgement", ("key", "generation_key", "judge", "channel", "judgement", "created"), _judgement_value),
}


class Store:
    """SQLite in WAL mode with synchronous=NORMAL: each finished call is committed as it is put.

    In WAL mode a commit is an append to the log without an fsync, so committing every call
    costs little (benchmarks/store_commit_cost.py) and a kill -9 loses nothing that finished.
    `batch_size` > 1 buffers writes instead (bulk copies such as merges), flushed by `flush`.
    """

    def __init__(self, path: Path | str, batch_size: int = 1, max_delay_s: float = 0.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.commit()
        self.batch_size = batch_size
        self.max_delay_s = max_delay_s
        self._pending_generations: list[tuple] = []
        self._pending_judgements: list[tuple] = []
        self._last_flush = time.monotonic()

    # -- reads ---------------------------------------------------------------------------

    def get_generations(self, keys: Iterable[str]) -> dict[str, Completion]:
        """Stored completions by key, errors included (callers decide what to retry)."""
        return {
            key: Completion.model_validate_json(blob)
            for key, blob in self._select("SELECT key, completion FROM generations WHERE key IN ({})", keys)
        }

    def get_judgements(self, keys: Iterable[str]) -> dict[str, Judgement]:
        return {
            key: Judgement.model_validate_json(blob)
            for key, blob in self._select("SELECT key, judgement FROM judgements WHERE key IN ({})", keys)
        }

    def _select(self, query: str, keys: Iterable[str]) -> list[tuple[str, str]]:
        keys = list(keys)
        rows: list[tuple[str, str]] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows.extend(self._db.execute(query.format(",".join("?" * len(chunk))), chunk).fetchall())
        return rows

    def count(self, table: str) -> int:
        if table not in {"generations", "judgements", "runs"}:
            raise ValueError(f"no table {table!r} in the store")
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    # -- writes --------------------------------------------------------------------------

    def put_generation(self, key: str, model: str, completion: Completion) -> None:
        self._pending_generations.append(
            (key, model, completion.model_dump_json(), completion.error, time.time())
        )
        self._maybe_flush()

    def put_judgement(self, key: str, gen_key: str, judgement: Judgement) -> None:
        self.put_judgements([(key, gen_key, judgement)])

    def put_judgements(self, items: list[tuple[str, str, Judgement]]) -> None:
        """Several judgements in one commit (a judged chunk: its model calls are already stored one by one)."""
        now = time.time()
        self._pending_judgements.extend(
            (key, gen_key, j.judge, j.channel, j.model_dump_json(), now) for key, gen_key, j in items
        )
        self._maybe_flush()

    def put_run(self, benchmark: str, model: str, summary_json: str) -> None:
        self.flush()
        with self._db:
            self._db.execute(
                "INSERT INTO runs(created, benchmark, model, summary) VALUES (?, ?, ?, ?)",
                (time.time(), benchmark, model, summary_json),
            )

    def _maybe_flush(self) -> None:
        pending = len(self._pending_generations) + len(self._pending_judgements)
        if pending and pending >= self.batch_size or time.monotonic() - self._last_flush >= self.max_delay_s:
            self.flush()

    def flush(self) -> None:
        """Commit what is buffered in one transaction."""
        if self._pending_generations or self._pending_judgements:
            with self._db:
                self._db.executemany(
                    "INSERT OR REPLACE INTO generations(key, model, completion, error, created) VALUES (?,?,?,?,?)",
                    self._pending_generations,
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO judgements(key, generation_key, judge, channel, judgement, created)"
                    " VALUES (?,?,?,?,?,?)",
                    self._pending_judgements,
                )
            self._pending_generations.clear()
            self._pending_judgements.clear()
        self._last_flush = time.monotonic()

    # -- merging -------------------------------------------------------------------------

    def merge(self, sources: Iterable[Path | str], chunk: int = 2000) -> dict[str, dict[str, int]]:
        """Copy other stores into this one, in one transaction: all of it, or nothing on a conflict.

        Generations and judgements are copied by key. A key already here with the same value is
        skipped (so merging twice changes nothing); with a different value it is a MergeConflict
        naming the key and both stores, except that a successful generation wins over an errored one
        (and a final judgement over a transient one), whichever store holds it; between two errored
        ones the first is kept (either is generated again on the next run). Compared values leave out a
        completion's latency and a judgement's display name. Runs rows are appended, except one this
        store already holds identically. Sources are opened read-only.
        Returns table -> {"added", "same", "replaced", "kept"} (runs: {"added", "same"}).
        """
        self.flush()
        counts = {table: {"added": 0, "same": 0, "replaced": 0, "kept": 0} for table in _MERGED}
        counts["runs"] = {"added": 0, "same": 0}
        origin: dict[tuple[str, str], str] = {}  # keys written by this merge -> the store they came from
        with self._db:
            for source_path in sources:
                source = _open_source(Path(source_path))
                try:
                    for table, (value_column, columns, comparable) in _MERGED.items():
                        rows = source.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
                        position = columns.index(value_column)
                        while batch := rows.fetchmany(chunk):
                            here = dict(self._select(f"SELECT key, {value_column} FROM {table} WHERE key IN ({{}})",
                                                     [row[0] for row in batch]))
                            writes = []
                            for row in batch:
                                key, blob = row[0], row[position]
                                if key not in here:
                                    writes.append(row)
                                    here[key] = blob
                                    origin[table, key] = str(source_path)
                                    counts[table]["added"] += 1
                                    continue
                                (mine, mine_retried), (theirs, theirs_retried) = comparable(here[key]), comparable(blob)
                                if mine == theirs or theirs_retried:
                                    counts[table]["same" if mine == theirs else "kept"] += 1
                                elif mine_retried:
                                    writes.append(row)
                                    here[key] = blob
                                    origin[table, key] = str(source_path)
                                    counts[table]["replaced"] += 1
                                else:
                                    raise MergeConflict(
                                        f"{table[:-1]} {key} differs between {origin.get((table, key), str(self.path))}"
                                        f" and {source_path}; nothing was merged (merge stores of disjoint runs, e.g."
                                        " the shards of one --shard i/N run, or remove one of the two)")
                            self._db.executemany(
                                f"INSERT OR REPLACE INTO {table}({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})",
                                writes)
                    existing = set(self._db.execute("SELECT created, benchmark, model, summary FROM runs").fetchall())
                    for run in source.execute("SELECT created, benchmark, model, summary FROM runs ORDER BY id"):
                        if run in existing:
                            counts["runs"]["same"] += 1
                            continue
                        self._db.execute("INSERT INTO runs(created, benchmark, model, summary) VALUES (?, ?, ?, ?)", run)
                        existing.add(run)
                        counts["runs"]["added"] += 1
                finally:
                    source.close()
        return counts

    def close(self) -> None:
        self.flush()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_source(path: Path) -> sqlite3.Connection:
    """A store to merge from, read-only; a missing file or one without the store's tables is an error."""
    if not path.is_file():
        raise ThinksafeError(f"no store at {path}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as error:
        raise ThinksafeError(f"{path} is not a thinksafe store: {error}") from None
    if not {"generations", "judgements", "runs"} <= tables:
        db.close()
        raise ThinksafeError(f"{path} is not a thinksafe store (it has no generations, judgements and runs tables)")
    return db
