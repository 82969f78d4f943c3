"""An attack turns one sample into adversarial variants, each tagged with its technique."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import ClassVar

from thinksafe.plugins import plugin_modules
from thinksafe.schema import Sample


class Attack(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abc.abstractmethod
    def apply(self, sample: Sample) -> list[Sample]:
        """Variants of `sample`; each has `attack` set to the technique and `source_id` to the original."""

    def variant(self, sample: Sample, messages, suffix: str | None = None, **metadata) -> Sample:
        """A copy of `sample` with new messages, tagged with this technique."""
        return sample.model_copy(
            update={
                "id": f"{sample.id}::{self.name}" + (f"::{suffix}" if suffix else ""),
                "messages": messages,
                "attack": self.name,
                "source_id": sample.source_id or sample.id,
                "metadata": {**sample.metadata, **metadata},
            }
        )


class NoAttack(Attack):
    """The identity: the benchmark's own prompts, unchanged."""

    name: ClassVar[str] = "none"
    description: ClassVar[str] = "the benchmark's prompts as they are"

    def apply(self, sample: Sample) -> list[Sample]:
        return [sample]


_ATTACKS: dict[str, Callable[[], Attack]] = {"none": NoAttack}


def register_attack(cls: type[Attack]) -> type[Attack]:
    _ATTACKS[cls.name] = cls
    return cls


def attack_names() -> dict[str, Callable[[], Attack]]:
    plugin_modules("thinksafe.attacks")  # built-in attacks register on import
    return dict(sorted(_ATTACKS.items()))


def get_attack(name: str) -> Attack:
    plugin_modules("thinksafe.attacks")
    if name not in _ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known: {', '.join(sorted(_ATTACKS))}")
    return _ATTACKS[name]()


def apply_attacks(samples: list[Sample], attacks: list[str] | None) -> list[Sample]:
    """The attack stage of the flow: the identity when no attack is named."""
    techniques = [get_attack(name) for name in (attacks or ["none"])]
    return [variant for sample in samples for attack in techniques for variant in attack.apply(sample)]
