"""Shared pieces of the R1 risk benchmarks: records of fetched files and their sha256s."""

from __future__ import annotations

import json
import os
from pathlib import Path

from thinksafe.data import DataError, fetch_bytes, sha256_of, write_atomic

LOCK_FILE = "SHA256SUMS.json"


def _lock(folder: Path) -> dict[str, str]:
    path = folder / LOCK_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def fetch_recorded(url: str, target: Path, token_env: tuple[str, ...] = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")) -> str:
    """Download `url` to `target` (atomically) and record its sha256 in SHA256SUMS.json beside it."""
    token = next((os.environ[name] for name in token_env if os.environ.get(name)), None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        content = fetch_bytes(url, headers, timeout=120)
    except DataError as error:
        raise DataError(f"cannot fetch {url}: {error}") from error
    write_atomic(target, content)
    digest = sha256_of(target)
    lock = _lock(target.parent)
    lock[target.name] = digest
    (target.parent / LOCK_FILE).write_text(json.dumps(lock, indent=2, sort_keys=True))
    return digest


def check_recorded(path: Path, source: str) -> str:
    """sha256 of `path`, checked against the one recorded when it was fetched (if it was)."""
    digest = sha256_of(path)
    recorded = _lock(path.parent).get(path.name)
    if recorded is not None and recorded != digest:
        raise DataError(f"{path} has sha256 {digest}, but {recorded} was recorded when it was fetched from {source}; "
                        "delete it to fetch it again")
    return digest
