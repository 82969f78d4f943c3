"""The embedded SQLite store: generations and judgements keyed by what produced them."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

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

    def close(self) -> None:
        self.flush()
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
