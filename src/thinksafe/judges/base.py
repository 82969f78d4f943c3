"""A judge labels one channel of one completion; unscored is never safe."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

from pydantic import BaseModel

from thinksafe.judges.readings import default_readings
from thinksafe.plugins import plugin_modules
from thinksafe.schema import Channel, Completion, Judgement, Sample


class JudgeInput(BaseModel):
    sample: Sample
    completion: Completion
    channel: Channel
    text: str


class JudgeContext(BaseModel):
    """What a judge factory may use: the judge model spec, backend options, and the run's model roles."""

    model_config = {"arbitrary_types_allowed": True}

    judge_model: str | None = None
    model_options: Any = None
    options: dict[str, Any] = {}  # the benchmark's options (e.g. expansion_model), for judges that need them
    models: Any = None  # the run's `ModelRoles`: judge calls are cached and committed one by one

    def model(self, spec: str, role: str = "judge") -> Any:
        """The model a judge calls: the run's cached role, or (outside a run) the bare backend."""
        if self.models is not None:
            return self.models.get(role, spec)
        from thinksafe.models.base import ModelOptions, load_model

        return load_model(spec, self.model_options or ModelOptions())


class Judge(abc.ABC):
    """Subclasses set `name`, `version`, `labels` and `readings`, and implement `judge_batch`."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    labels: ClassVar[tuple[str, ...]] = ()
    readings: ClassVar[frozenset[str] | None] = None  # what metrics may read (judges.readings); None: from `labels`
    description: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False

    @classmethod
    def provided_readings(cls) -> frozenset[str]:
        """The readings its judgements carry: declared, or (for a judge that declares none) read off its labels."""
        return cls.readings if cls.readings is not None else default_readings(cls.labels)

    def identity(self) -> dict[str, Any]:
        """Everything that changes this judge's output; part of every judgement's cache key."""
        return {"name": self.name, "version": self.version}

    @abc.abstractmethod
    async def judge_batch(self, items: list[JudgeInput]) -> list[Judgement]:
        """One judgement per item, in order."""

    def unscored(self, item: JudgeInput, reason: str, raw: str | None = None) -> Judgement:
        return Judgement(judge=self.name, channel=item.channel, unscored_reason=reason, raw=raw)

    def model_failed(self, item: JudgeInput, error: str) -> Judgement:
        """Unscored because the judge's model call failed: marked transient, so the next run judges it again."""
        return self.unscored(item, f"judge model error: {error}").model_copy(update={"transient": True})

    async def aclose(self) -> None:
        """Release a judge model."""


class TextJudge(Judge):
    """A model-free judge that reads one text at a time; empty text is unscored, never safe."""

    unscored_if_empty: ClassVar[bool] = True

    @abc.abstractmethod
    def read(self, item: JudgeInput) -> Judgement:
        """Judge one text (non-empty unless `unscored_if_empty` is False)."""

    def judge_one(self, item: JudgeInput) -> Judgement:
        if self.unscored_if_empty and not item.text.strip():
            return self.unscored(item, f"empty {item.channel}")
        return self.read(item)

    async def judge_batch(self, items: list[JudgeInput]) -> list[Judgement]:
        return [self.judge_one(item) for item in items]


JUDGE_CHUNK = 256


async def judge_chunks(judge: Judge, inputs: list[JudgeInput], size: int = JUDGE_CHUNK) -> AsyncIterator[tuple[int, list[Judgement]]]:
    """(start index, judgements) chunk by chunk; a chunk whose judge call raised comes back unscored and
    marked transient, so that a later run judges it again instead of reading it from the store."""
    for start in range(0, len(inputs), size):
        chunk = inputs[start : start + size]
        try:
            judged = await judge.judge_batch(chunk)
        except Exception as error:  # noqa: BLE001 - recorded per item, never dropped
            judged = [
                Judgement(judge=judge.name, channel=item.channel, unscored_reason=f"judge failed: {error}", transient=True)
                for item in chunk
            ]
        yield start, judged


_JUDGES: dict[str, tuple[type[Judge], Callable[[JudgeContext], Judge]]] = {}


def register_judge(name: str, factory: Callable[[JudgeContext], Judge] | None = None):
    """Class decorator: make a judge available by name to the CLI and the API."""

    def decorate(cls: type[Judge]) -> type[Judge]:
        cls.name = name
        _JUDGES[name] = (cls, factory or (lambda ctx: cls()))
        return cls

    return decorate


def judge_kind(label: str) -> str:
    """The registered judge a display label names: `refusal-llm=openai:m@url` -> `refusal-llm`."""
    return label.split("=", 1)[0]


def judge_names() -> dict[str, type[Judge]]:
    plugin_modules("thinksafe.judges")  # built-in judges register on import
    return {name: cls for name, (cls, _) in sorted(_JUDGES.items())}


def make_judge(name: str, context: JudgeContext) -> Judge:
    plugin_modules("thinksafe.judges")
    if name not in _JUDGES:
        raise ValueError(f"unknown judge {name!r}; known: {', '.join(sorted(_JUDGES))}")
    cls, factory = _JUDGES[name]
    if cls.needs_model and not context.judge_model:
        raise ValueError(f"judge {name!r} needs a judge model: pass --judge-model SPEC (or --judge {name}=SPEC)")
    return factory(context)
