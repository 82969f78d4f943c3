"""A benchmark declares its files, how rows become Samples, its default judge and metrics."""

from __future__ import annotations

import abc
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel

from thinksafe.data import DataFile, DataResolver
from thinksafe.errors import OptionError
from thinksafe.metrics import MetricSpec, compute_metrics
from thinksafe.plugins import plugin_modules
from thinksafe.schema import Channel, Metric, Sample, SampleResult

if TYPE_CHECKING:
    from thinksafe.solvers.base import Solver

# ---------------------------------------------------------------- declared benchmark options


class BenchmarkOption(BaseModel):
    """One `--option KEY=VALUE` a benchmark reads; `thinksafe benchmarks NAME` lists them."""

    name: str
    type: Literal["str", "int", "float", "bool", "path"] = "str"
    help: str = ""
    default: str | None = None


ALWAYS_ALLOWED_OPTIONS = frozenset({"judge_model"})  # set by the pipeline for every benchmark
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def check_option_value(option: BenchmarkOption, value: object, benchmark: str) -> None:
    """Raise OptionError when `value` does not parse as the option's type (values stay strings)."""
    text = str(value).strip()
    try:
        if option.type == "int":
            int(text)
        elif option.type == "float":
            float(text)
    except ValueError:
        raise OptionError(
            f"benchmark {benchmark!r} option {option.name!r} takes {'an' if option.type == 'int' else 'a'} {option.type}, got {value!r}"
        ) from None
    if option.type == "bool" and text.lower() not in _TRUE | _FALSE:
        raise OptionError(f"benchmark {benchmark!r} option {option.name!r} takes true or false, got {value!r}")
    if option.type == "path" and not text:
        raise OptionError(f"benchmark {benchmark!r} option {option.name!r} takes a path, got an empty value")


def check_options(cls: type[Benchmark], options: dict[str, object]) -> None:
    """Unknown keys and badly typed values raise OptionError naming the key and the declared ones."""
    declared = {o.name: o for o in cls.declared_options}
    for key, value in options.items():
        if key in ALWAYS_ALLOWED_OPTIONS:
            continue
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise OptionError(f"benchmark {cls.name!r} has no option {key!r}; its options: {known}")
        check_option_value(declared[key], value, cls.name)


def member_options(name: str, options: dict[str, str]) -> dict[str, str]:
    """The part of a suite's options that member `name` declares (plus the always-allowed ones)."""
    plugin_modules("thinksafe.benchmarks")
    cls = _BENCHMARKS[name]
    keep = {o.name for o in getattr(cls, "declared_options", ())} | ALWAYS_ALLOWED_OPTIONS
    return {k: v for k, v in options.items() if k in keep}


# ---------------------------------------------------------------- end of declared benchmark options


class Benchmark(abc.ABC):
    name: ClassVar[str]
    description: ClassVar[str] = ""
    files: ClassVar[tuple[DataFile, ...]] = ()
    default_judges: ClassVar[tuple[str, ...]] = ("refusal-rules",)
    headline: ClassVar[str | tuple[str, ...] | None] = None  # metrics a suite table shows (None: all)
    declared_options: ClassVar[tuple[BenchmarkOption, ...]] = ()  # the `--option` keys it reads (get_benchmark checks)
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = ()  # the metrics, as data (thinksafe.metrics)

    def __init__(self, **options: str) -> None:
        """Options from the command line (`--option k=v`, and the `--victim-model` / `--expansion-model` roles)."""
        self.options = options
        self.load_notes: list[str] = []  # what `load` left out, recovered or chose; shown in the summary

    @abc.abstractmethod
    def load(self, data: DataResolver) -> list[Sample]:
        """All samples, in file order, with stable ids."""

    def metrics(self, results: list[SampleResult], judge: str, channel: Channel) -> list[Metric]:
        """The declared metrics this judge provides a reading for, computed the way the benchmark's authors define them."""
        return compute_metrics(self.declared_metrics, results, judge, channel)

    def solver(self) -> Solver:
        """How a sample becomes a conversation and a completion: one turn to the target by default."""
        from thinksafe.solvers.single_turn import SingleTurn

        return SingleTurn()

    def stratum(self, sample: Sample) -> str:
        """What `--limit` spreads evenly over: the full category path by default."""
        return "/".join(sample.category) or "all"

    def notes(self) -> list[str]:
        return list(self.load_notes)

    def approximation_note(self, judges: list[str]) -> str | None:
        """What the run's notes say when `judges` gave metrics flagged `approximate` (how they differ)."""
        return None


class Suite:
    """Several benchmarks run by one command; `thinksafe eval --benchmark <suite>`."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    members: ClassVar[tuple[str, ...]] = ()
    default_judges: ClassVar[tuple[str, ...]] = ()
    attacks: ClassVar[tuple[str, ...]] = ()  # techniques run on every member unless --attack is given


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
    factory = _BENCHMARKS[name]
    if isinstance(factory, type) and issubclass(factory, Benchmark):
        check_options(factory, options)
    return factory(**options)


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


# ---------------------------------------------------------------- loading with checked ids


def check_unique_ids(samples: list[Sample], source: str) -> list[Sample]:
    """`samples` unchanged when their ids are unique (and non-empty); else a DataError naming the
    duplicated ids and `source` (the benchmark and its files)."""
    from collections import Counter

    from thinksafe.data import DataError, one_line

    counts = Counter(s.id for s in samples)
    empty = counts.get("", 0)
    if empty:
        raise DataError(f"{source}: {empty} sample(s) have an empty id")
    duplicated = [(sample_id, n) for sample_id, n in counts.items() if n > 1]
    if duplicated:
        shown = ", ".join(f"{sample_id!r} ({n} times)" for sample_id, n in duplicated[:5])
        more = f" and {len(duplicated) - 5} more" if len(duplicated) > 5 else ""
        raise DataError(one_line(f"{source}: {len(duplicated)} duplicated sample id(s): {shown}{more}", limit=600))
    return samples


def load_samples(benchmark: Benchmark, resolver: DataResolver) -> list[Sample]:
    """`benchmark.load(resolver)`, its sample ids checked to be unique (DataError naming them and the files)."""
    samples = benchmark.load(resolver)
    names = ", ".join(f"{f.benchmark}/{f.name}" for f in type(benchmark).files)
    return check_unique_ids(samples, f"{benchmark.name} ({names})" if names else benchmark.name)
