"""Keeping training prompts apart from evaluation items: normalised text, overlap check, exclusions.

Two prompts are the same when their normalised final user turns are equal: Unicode NFKC,
lower case, and every character that is not a letter or a digit removed (so spacing,
punctuation and full-width forms do not hide a copy). The fingerprint is the sha256 of
that text; `split.json` stores fingerprints, never prompt text.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from pydantic import BaseModel, Field

from thinksafe.enhance.pools import PoolItem


class Exclusion(BaseModel):
    """A pool item left out of training, and why."""

    id: str
    pool: str
    kind: str
    reason: str
    matches: str | None = Field(None, description="the evaluation item or training item it collides with")


class SplitRecord(BaseModel):
    """What `enhance compare --split` needs to keep evaluation off the training prompts."""

    seed: int
    train_fingerprints: list[str]
    heldout_ids: dict[str, list[str]] = Field(default_factory=dict, description="pool -> ids kept for evaluation")

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> SplitRecord:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


def remove_duplicates(items: list[PoolItem]) -> tuple[list[PoolItem], list[Exclusion]]:
    """The first of each group of items with the same normalised prompt is kept."""
    seen: dict[str, str] = {}
    kept, excluded = [], []
    for item in items:
        key = item.fingerprint
        if key in seen:
            excluded.append(Exclusion(id=item.id, pool=item.pool, kind=item.kind, reason="duplicate prompt", matches=seen[key]))
            continue
        seen[key] = item.id
        kept.append(item)
    return kept, excluded


def remove_overlaps(items: list[PoolItem], evaluation: dict[str, str]) -> tuple[list[PoolItem], list[Exclusion]]:
    """Drop items whose normalised prompt equals an evaluation item's (`evaluation`: fingerprint -> item id)."""
    kept, excluded = [], []
    for item in items:
        hit = evaluation.get(item.fingerprint)
        if hit is not None:
            excluded.append(Exclusion(id=item.id, pool=item.pool, kind=item.kind, reason="overlaps an evaluation item", matches=hit))
        else:
            kept.append(item)
    return kept, excluded


def check_disjoint(train_fingerprints: list[str], evaluation: dict[str, str]) -> list[str]:
    """Evaluation ids that a training prompt still collides with (empty when the split is clean)."""
    return sorted({evaluation[f] for f in train_fingerprints if f in evaluation})


def seeded_split(records: list[dict], fraction: float, seed: int, key: str = "kind") -> tuple[list[dict], list[dict]]:
    """(train, eval): about `fraction` of each group (by `key`) goes to eval, at least one when a group has 2+."""
    groups: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        groups.setdefault(str(record.get(key)), []).append(index)
    held: set[int] = set()
    rng = random.Random(seed)
    for name in sorted(groups):
        indices = groups[name][:]
        rng.shuffle(indices)
        count = round(len(indices) * fraction)
        if fraction > 0 and count == 0 and len(indices) >= 2:
            count = 1
        held.update(indices[:count])
    return [r for i, r in enumerate(records) if i not in held], [r for i, r in enumerate(records) if i in held]
