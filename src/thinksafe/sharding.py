"""Sharding a run over machines without a scheduler: `thinksafe eval --shard i/N`, then `thinksafe merge`.

Shards are numbered from 1: `--shard 1/4` ... `--shard 4/4`. A sample belongs to shard
`1 + (sha256(sample id) mod N)`, so the N shards partition the samples on any machine and in any
Python (no `hash()` seed), and adding samples to a benchmark never moves the others. The slice is
taken after --limit (every shard must be given the same --limit and --seed) and before attacks
(every variant of a sample lands in the sample's shard).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TypeVar

from thinksafe.errors import ArgumentError

T = TypeVar("T")
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def shard_of(sample_id: str, count: int) -> int:
    """The shard (1-based) of one sample id among `count`."""
    digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
    return 1 + int.from_bytes(digest[:8], "big") % count


def check_shard(index: int, count: int) -> None:
    if count < 1 or not 1 <= index <= count:
        raise ArgumentError(f"--shard {index}/{count}: need 1 <= i <= N (shards are numbered from 1)")


def shard_samples(samples: Sequence[T], index: int, count: int) -> list[T]:
    """The samples of shard `index` of `count` (1-based), in their original order."""
    check_shard(index, count)
    if count == 1:
        return list(samples)
    return [s for s in samples if shard_of(s.id, count) == index]  # type: ignore[attr-defined]


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); anything else, or an index outside 1..N, is an ArgumentError."""
    found = _SHARD.match(text)
    if not found:
        raise ArgumentError(f"--shard takes i/N with 1 <= i <= N (e.g. 1/4), got {text!r}")
    index, count = int(found.group(1)), int(found.group(2))
    check_shard(index, count)
    return index, count


def mark_shard(summary, index: int, count: int) -> None:  # noqa: ANN001 - a RunSummary
    """Say in the run summary which shard it covers (extra["shard"] and a note)."""
    summary.extra["shard"] = {"index": index, "count": count}
    note = (f"shard {index}/{count}: only the samples whose id hashes to this shard; merge the shards' stores "
            "(thinksafe merge) and rerun without --shard for the whole benchmark's metrics")
    if note not in summary.notes:
        summary.notes.append(note)
