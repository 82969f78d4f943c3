"""Attacks turn a benchmark's samples into adversarial ones, each tagged with its technique.

Two kinds, both registered by name (`thinksafe attacks` lists them):

- a `PromptAttack` rewrites each sample into variants (a template, an encoding, a faux
  dialogue): the pipeline generates and judges the variants like any other sample;
- a `SolverAttack` drives the conversation itself through cached model roles (an attacker
  model proposing prompts, a translator, a prefilled thinking): `solve` returns finished
  results, every model call on the way stored and resumable like any other.

Every variant keeps `source_id` (the original sample's id), so intervals are clustered on the
original prompt, and `attack` (the technique's label), so every metric is also reported per
technique (`attack:<label>` groups). Options come as `--attack NAME:key=value,key=value`.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel

from thinksafe.errors import ArgumentError
from thinksafe.plugins import plugin_modules
from thinksafe.schema import Channel, Completion, Message, Metric, Sample, SampleResult
from thinksafe.solvers.base import MissingRoleError, SolverContext

if TYPE_CHECKING:
    from thinksafe.models.cached import CachedModel

AttackKind = Literal["prompt", "iterative", "reasoning", "injection"]
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_CJK = re.compile(r"[\u4e00-\u9fff]")


class AttackError(ArgumentError):
    """An unknown attack, an unknown or badly typed attack option, or a missing model role."""


class AttackOption(BaseModel):
    """One `key=value` an attack reads from `--attack NAME:key=value`."""

    name: str
    type: Literal["str", "int", "float", "bool"] = "str"
    default: Any = None
    help: str = ""

    def parse(self, attack: str, text: str) -> Any:
        text = text.strip()
        try:
            if self.type == "int":
                return int(text)
            if self.type == "float":
                return float(text)
        except ValueError:
            raise AttackError(f"attack {attack!r} option {self.name!r} takes {'an' if self.type == 'int' else 'a'} "
                              f"{self.type}, got {text!r}") from None
        if self.type == "bool":
            if text.lower() not in _TRUE | _FALSE:
                raise AttackError(f"attack {attack!r} option {self.name!r} takes true or false, got {text!r}")
            return text.lower() in _TRUE
        return text


def language_of(text: str) -> Literal["en", "zh"]:
    """'zh' when the text is mostly Chinese (a CJK character for every five letters or more), else 'en'."""
    cjk = len(_CJK.findall(text))
    latin = sum(ch.isascii() and ch.isalpha() for ch in text)
    return "zh" if cjk and cjk * 5 >= latin else "en"


class Attack(abc.ABC):
    """What every technique declares: its name, what it does, where it comes from, its options."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""  # the paper or tool the technique comes from, for the README and `thinksafe attacks`
    kind: ClassVar[AttackKind] = "prompt"
    options: ClassVar[tuple[AttackOption, ...]] = ()
    measures: ClassVar[Literal["asr", "inflation"]] = "asr"  # inflation: reasoning-token growth, not success

    def __init__(self, **given: str) -> None:
        declared = {option.name: option for option in self.options}
        unknown = sorted(set(given) - set(declared))
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise AttackError(f"attack {self.name!r} has no option {unknown[0]!r}; its options: {known}")
        self.given = {key: str(value) for key, value in given.items()}
        self.settings: dict[str, Any] = {
            name: option.parse(self.name, self.given[name]) if name in self.given else option.default
            for name, option in declared.items()
        }
        self.check()

    def check(self) -> None:
        """Raise AttackError when the settings do not make sense together (before any model call)."""

    @property
    def label(self) -> str:
        """The technique as results and metrics name it: the name, plus the options given."""
        if not self.given:
            return self.name
        return self.name + ":" + ",".join(f"{key}={self.given[key]}" for key in sorted(self.given))

    def variant(self, sample: Sample, messages: list[Message], suffix: str | None = None, **metadata: Any) -> Sample:
        """A copy of `sample` with new messages, tagged with this technique and its source."""
        return sample.model_copy(
            update={
                "id": f"{sample.source_id or sample.id}::{self.label}" + (f"::{suffix}" if suffix else ""),
                "messages": messages,
                "attack": self.label,
                "source_id": sample.source_id or sample.id,
                "metadata": {**sample.metadata, **metadata},
            }
        )

    def with_prompt(self, sample: Sample, prompt: str, suffix: str | None = None, **metadata: Any) -> Sample:
        """A variant whose final user turn is `prompt` (earlier turns kept)."""
        messages = list(sample.messages)
        for index in range(len(messages) - 1, -1, -1):
            if messages[index].role == "user":
                messages[index] = Message(role="user", content=prompt)
                break
        else:
            messages.append(Message(role="user", content=prompt))
        return self.variant(sample, messages, suffix, **metadata)

    def metrics(self, results: list[SampleResult], judge: str, channel: Channel) -> list[Metric]:
        """Metrics of this technique beyond the benchmark's own (which every technique gets)."""
        return []

    def extra(self, results: list[SampleResult]) -> dict[str, Any]:
        """Figures for summary.extra['attacks'][label] beyond the generic counts."""
        return {}


class PromptAttack(Attack):
    """A transform of each sample into variants, generated and judged like the benchmark's own."""

    @abc.abstractmethod
    def apply(self, sample: Sample) -> list[Sample]:
        """Variants of `sample` (made with `variant` / `with_prompt`)."""


class TemplateAttack(PromptAttack):
    """The request put into one template per language (`{request}` marks where)."""

    templates: ClassVar[dict[str, str]]  # language ("en", "zh") -> template

    def apply(self, sample: Sample) -> list[Sample]:
        template = self.templates[language_of(sample.prompt)]
        return [self.with_prompt(sample, template.format(request=sample.prompt))]


class AttackContext(SolverContext):
    """What a solver attack may reach: the solvers' context (cached model roles, the target's parameters,
    the run's notes); a missing role is an AttackError naming the technique."""

    def model(self, role: str, attack: str = "", spec: str | None = None) -> CachedModel:
        try:
            return super().model(role, f"attack {attack or '?'}", spec)
        except MissingRoleError as error:
            raise AttackError(str(error)) from None


class SolverAttack(Attack):
    """A technique that runs the conversation itself (attacker loops, translation, prefilled thinking)."""

    roles: ClassVar[tuple[str, ...]] = ()  # model roles besides the target that `solve` needs

    @abc.abstractmethod
    async def solve(self, context: AttackContext, samples: list[Sample]) -> list[SampleResult]:
        """One finished result per (sample, generation index): its `sample` tagged (via `variant`), its
        completion the one to judge; `sample.metadata['attack_queries']` counts target queries when not 1."""

    def check_roles(self, context: AttackContext) -> None:
        """AttackError before any model call when a needed role has no model."""
        for role in self.roles:
            context.model(role, self.label)

    @staticmethod
    def result(sample: Sample, completion: Completion, key: str, sample_index: int = 0) -> SampleResult:
        return SampleResult(sample=sample, sample_index=sample_index, generation_key=key, completion=completion)


class NoAttack(PromptAttack):
    """The identity: the benchmark's own prompts, unchanged."""

    name: ClassVar[str] = "none"
    description: ClassVar[str] = "the benchmark's prompts as they are (the baseline every technique is compared with)"

    def apply(self, sample: Sample) -> list[Sample]:
        return [sample]


_ATTACKS: dict[str, type[Attack]] = {"none": NoAttack}


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: the attack becomes available by its `name`."""
    _ATTACKS[cls.name] = cls
    return cls


def attack_names() -> dict[str, type[Attack]]:
    plugin_modules("thinksafe.attacks")  # built-in attacks register on import
    return dict(sorted(_ATTACKS.items()))


def parse_attack(text: str) -> Attack:
    """`NAME` or `NAME:key=value,key=value` -> the attack with those options (AttackError when wrong)."""
    name, _, rest = text.strip().partition(":")
    known = attack_names()
    if name not in known:
        raise AttackError(f"unknown attack {name!r}; known: {', '.join(known)} (`thinksafe attacks` describes them)")
    given: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, equals, value = part.partition("=")
        if not equals or not key.strip():
            raise AttackError(f"attack option {part!r} in {text!r} is not KEY=VALUE")
        given[key.strip()] = value
    return known[name](**given)


def get_attack(name: str) -> Attack:
    return parse_attack(name)


def plan_attacks(texts: Sequence[str] | None) -> list[Attack]:
    """The attacks of a run, in order (the identity when none is named); duplicate labels refused."""
    attacks = [parse_attack(text) for text in (texts or ["none"])]
    labels = [a.label for a in attacks]
    duplicated = sorted({label for label in labels if labels.count(label) > 1})
    if duplicated:
        raise AttackError(f"attack {duplicated[0]!r} is named twice")
    return attacks


def apply_attacks(samples: list[Sample], attacks: Sequence[str] | Sequence[Attack] | None) -> list[Sample]:
    """The prompt-attack stage: every sample through every prompt attack (solver attacks run later)."""
    planned = [a if isinstance(a, Attack) else parse_attack(a) for a in (attacks or ["none"])]
    return [variant for sample in samples for attack in planned if isinstance(attack, PromptAttack)
            for variant in attack.apply(sample)]


def by_technique(results: list[SampleResult]) -> dict[str, list[SampleResult]]:
    """Results grouped by the technique that produced their sample, in order of first appearance."""
    groups: dict[str, list[SampleResult]] = {}
    for result in results:
        groups.setdefault(result.sample.attack, []).append(result)
    return groups

