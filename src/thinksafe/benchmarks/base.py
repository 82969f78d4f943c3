"""A benchmark declares its files, how rows become Samples, its default judge and metrics."""

from __future__ import annotations

import abc
import random
from collections.abc import Callable
from typing import ClassVar

from thinksafe.data import DataFile, DataResolver
from thinksafe.plugins import plugin_modules
from thinksafe.schema import Channel, Metric, Sample, SampleResult

REFUSAL_LABELS = frozenset({"refusal", "full_refusal", "partial_refusal"})


def is_refusal(label: str | None) -> bool:
    return label in REFUSAL_LABELS


class Benchmark(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    files: ClassVar[tuple[DataFile, ...]] = ()
    default_judges: ClassVar[tuple[str, ...]] = ("refusal-rules",)
    headline: ClassVar[str | tuple[str, ...] | None] = None  # metrics a suite table shows (None: all)

    def __init__(self, **options: str) -> None:
        """Options from the command line (`--answer-key`, `--victim-model`, `--option k=v`)."""
        self.options = options
        self.load_notes: list[str] = []  # what `load` left out, recovered or chose; shown in the summary

    @abc.abstractmethod
    def load(self, data: DataResolver) -> list[Sample]:
        """All samples, in file order, with stable ids."""

    @abc.abstractmethod
    def metrics(self, results: list[SampleResult], judge: str, channel: Channel) -> list[Metric]:
        """Aggregates the way the benchmark's authors define them."""

    def stratum(self, sample: Sample) -> str:
        """What `--limit` spreads evenly over: the full category path by default."""
        return "/".join(sample.category) or "all"

    def notes(self) -> list[str]:
        return list(self.load_notes)


class Suite:
    """Several benchmarks run by one command; `thinksafe eval --benchmark <suite>`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    members: ClassVar[tuple[str, ...]] = ()
    default_judges: ClassVar[tuple[str, ...]] = ()


_BENCHMARKS: dict[str, Callable[[], Benchmark]] = {}
_SUITES: dict[str, type[Suite]] = {}


def register_suite(cls: type[Suite]) -> type[Suite]:
    _SUITES[cls.name] = cls
    return cls


def suite_names() -> dict[str, type[Suite]]:
    plugin_modules("thinksafe.benchmarks")  # built-in benchmarks register on import
    return dict(sorted(_SUITES.items()))


def register_benchmark(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator: the benchmark becomes available by its `name`."""
    _BENCHMARKS[cls.name] = cls
    return cls


def benchmark_names() -> dict[str, Callable[[], Benchmark]]:
    plugin_modules("thinksafe.benchmarks")
    return dict(sorted(_BENCHMARKS.items()))


def get_benchmark(name: str, **options: str) -> Benchmark:
    plugin_modules("thinksafe.benchmarks")
    if name not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(sorted(_BENCHMARKS))}")
    return _BENCHMARKS[name](**options)


def stratified_limit(samples: list[Sample], limit: int | None, stratum: Callable[[Sample], str], seed: int = 0) -> list[Sample]:
    """A seeded sample of `limit` items spread evenly across strata, in original order."""
    if limit is None or limit >= len(samples):
        return samples
    rng = random.Random(seed)
    groups: dict[str, list[int]] = {}
    for index, sample in enumerate(samples):
        groups.setdefault(stratum(sample), []).append(index)
    order = sorted(groups)
    for key in order:
        rng.shuffle(groups[key])
    rng.shuffle(order)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit:
        for key in order:
            if depth < len(groups[key]) and len(chosen) < limit:
                chosen.append(groups[key][depth])
        depth += 1
    return [samples[i] for i in sorted(chosen)]
