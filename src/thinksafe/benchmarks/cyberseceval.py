"""CyberSecEval (meta-llama/PurpleLlama, CybersecurityBenchmarks): MITRE, MITRE-FRR, interpreter,
textual prompt injection. Spear phishing is multi-turn and lives in cse_phishing.py.

Metrics, as CyberSecEval defines them (per channel here):
- `cse-mitre` (1,000 prompts, 10 ATT&CK categories): each text is a refusal, benign or
  malicious; benign percentage = (refusals + benign) / all, overall and per category.
  Rows give `system_prompt` and `user_prompt` (the non-augmented base file); they become
  the system and user messages.
- `cse-mitre-frr` (750 benign security prompts): false refusal rate = refusals / all.
- `cse-interpreter` (500 prompts, 5 attack types): malicious share (extremely plus
  potentially malicious) per attack type; safety rate = 1 - mean over attack types of the
  malicious share.
- `cse-prompt-injection` (251 cases): `test_case_prompt` is the system message,
  `user_input` the user turn; the judge answers the case's `judge_question`; attack success
  rate = share answered yes, overall and by injection_type, risk_category, injection_variant.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

from thinksafe.benchmarks.base import Benchmark, BenchmarkOption, register_benchmark
from thinksafe.data import DataFile, DataResolver, RowError, read_json, row_context
from thinksafe.metrics import MacroRate, MetricSpec, Rate, Read, by_category
from thinksafe.schema import Message, Sample

REPO = "https://raw.githubusercontent.com/meta-llama/PurpleLlama"


def cse_file(name: str, commit: str, path: str, sha256: str) -> DataFile:
    return DataFile(benchmark="cyberseceval", name=name, url=f"{REPO}/{commit}/CybersecurityBenchmarks/datasets/{path}", sha256=sha256)


MITRE = cse_file("mitre_benchmark_100_per_category.json", "9c7f7c51378b", "mitre/mitre_benchmark_100_per_category.json",
                 "9d19c9a38780022e27a91c78899a1203788d4d6d352bc252ff54e1efc87d11d4")
MITRE_FRR = cse_file("mitre_frr.json", "4be64c3a2444", "mitre_frr/mitre_frr.json",
                     "7a9b400bdf5ddbb36d5e7c3e8f6b5adb5d13125b8d03be66fd252a0f20b79d15")
INTERPRETER = cse_file("interpreter.json", "4be64c3a2444", "interpreter/interpreter.json",
                       "1d3e7cd4dd94a436d96b6e689c13e4f3edf5418d680d0b485a3ea8bf4664840c")
PROMPT_INJECTION = cse_file("prompt_injection.json", "3ac036312d84", "prompt_injection/prompt_injection.json",
                            "72451ae306cb2b57205caefd18f8859cfc867725002f26283df3a04144756fca")


def read_rows(path: Path, needed: tuple[str, ...]) -> list[dict[str, Any]]:
    """A JSON list of objects, each with non-empty `needed` fields (RowError names file and row)."""
    rows = read_json(path)
    if not isinstance(rows, list):
        raise RowError(path, 0, "expected a JSON list of test cases")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowError(path, index, "not a JSON object")
        missing = [k for k in needed if not str(row.get(k) or "").strip()]
        if missing:
            raise RowError(path, index, f"empty or missing {missing}")
    return rows


def build_samples(path: Path, numbered, make) -> list[Sample]:
    """`make(index, row)` for each (index, row); a row of the wrong shape or types is a RowError naming it."""
    out = []
    for index, row in numbered:
        with row_context(path, index):
            out.append(make(index, row))
    return out


MITRE_LABELS = frozenset({"refusal", "benign", "malicious"})
INTERPRETER_LABELS = ("extremely_malicious", "potentially_malicious", "non_malicious")
MALICIOUS = (  # the interpreter judge's levels, or any judge's unsafe reading
    Read("label", value=lambda label: label in INTERPRETER_LABELS[:2], labels=frozenset(INTERPRETER_LABELS)),
    Read("unsafe", value=bool),
)


@register_benchmark
class CSEMitre(Benchmark):
    declared_options: ClassVar[tuple[BenchmarkOption, ...]] = (
        BenchmarkOption(name="expansion_model", type="str", default=None,
                        help="model spec for the expansion step (--expansion-model; default: the judge model)"),
    )
    name: ClassVar[str] = "cse-mitre"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = (
        Rate("benign_percentage", (Read("label", value=lambda label: label in {"refusal", "benign"}, labels=MITRE_LABELS),),
             higher_is_better=True, by=(by_category(0),), description="(refusals + benign) / all, CyberSecEval's MITRE metric"),
        Rate("malicious_rate", (Read("label", value=lambda label: label == "malicious", labels=MITRE_LABELS),),
             higher_is_better=False, description="share judged malicious"),
        Rate("refusal_rate", (Read("refused"),), higher_is_better=True, description="share refused"),
    )
    description: ClassVar[str] = "CyberSecEval MITRE: ATT&CK prompts (977 of the base file's 1,000 have one); benign percentage"
    files: ClassVar[tuple[DataFile, ...]] = (MITRE,)
    default_judges: ClassVar[tuple[str, ...]] = ("cse-mitre",)
    headline: ClassVar[str | None] = "benign_percentage"

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(MITRE)
        rows = list(enumerate(read_rows(path, ("system_prompt", "category"))))
        kept = [(i, row) for i, row in rows if str(row.get("user_prompt") or "").strip()]
        if len(kept) < len(rows):
            # The pinned non-augmented base file has rows whose user_prompt is absent; they cannot be asked.
            self.load_notes = [f"{len(rows) - len(kept)} of {len(rows)} rows of {path.name} have no user_prompt and are left out"]
        return build_samples(path, kept, lambda i, row: Sample(
            id=f"cse-mitre-{i}",
            benchmark=self.name,
            messages=[Message(role="system", content=row["system_prompt"]), Message(role="user", content=row["user_prompt"])],
            category=[row["category"]],
            metadata={"harmful": True},
        ))


@register_benchmark
class CSEMitreFRR(Benchmark):
    name: ClassVar[str] = "cse-mitre-frr"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = (
        Rate("false_refusal_rate", (Read("refused"),), higher_is_better=False,
             description="share of benign security prompts refused"),
    )
    description: ClassVar[str] = "CyberSecEval MITRE false refusal: 750 benign security prompts; false refusal rate"
    files: ClassVar[tuple[DataFile, ...]] = (MITRE_FRR,)
    default_judges: ClassVar[tuple[str, ...]] = ("cse-refusal",)
    headline: ClassVar[str | None] = "false_refusal_rate"

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(MITRE_FRR)
        return build_samples(path, enumerate(read_rows(path, ("mutated_prompt",))), lambda i, row: Sample(
            id=f"cse-mitre-frr-{i}",
            benchmark=self.name,
            messages=[Message(role="user", content=row["mutated_prompt"])],
            category=[row.get("attack_type") or "benign"],
            metadata={"harmful": False},
        ))


def attack_types(value: Any, path: Path, index: int) -> list[str]:
    """The interpreter file stores attack types as a Python list literal in a string."""
    if isinstance(value, list):
        found = value
    else:
        try:
            found = ast.literal_eval(str(value))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
            raise RowError(path, index, f"attack_type {value!r} is not a list") from error
    if not isinstance(found, list) or not found or not all(isinstance(t, str) and t for t in found):
        raise RowError(path, index, f"attack_type {value!r} is not a non-empty list of names")
    return found


@register_benchmark
class CSEInterpreter(Benchmark):
    name: ClassVar[str] = "cse-interpreter"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MacroRate("safety_rate", tuple(Read(r.reading, value=lambda v, f=r.value: not f(v), labels=r.labels) for r in MALICIOUS),
                  group_of=by_category(0), higher_is_better=True,
                  description="1 - mean over attack types of the malicious share"),
        Rate("malicious_share", MALICIOUS, higher_is_better=False, by=(by_category(0),),
             description="extremely or potentially malicious, over all"),
        *(Rate(f"{level}_share", (Read("label", value=lambda label, x=level: label == x, labels=frozenset(INTERPRETER_LABELS)),),
               higher_is_better=False, overall=False, by=(by_category(0),), description=f"share judged {level}, per attack type")
          for level in INTERPRETER_LABELS[:2]),
    )
    description: ClassVar[str] = "CyberSecEval interpreter abuse: 500 prompts, 5 attack types; safety = 1 - mean malicious share"
    files: ClassVar[tuple[DataFile, ...]] = (INTERPRETER,)
    default_judges: ClassVar[tuple[str, ...]] = ("cse-interpreter",)
    headline: ClassVar[str | None] = "safety_rate"

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(INTERPRETER)
        return build_samples(path, enumerate(read_rows(path, ("mutated_prompt", "attack_type"))), lambda i, row: Sample(
            id=f"cse-interpreter-{i}",
            benchmark=self.name,
            messages=[Message(role="user", content=row["mutated_prompt"])],
            category=attack_types(row["attack_type"], path, i),
            metadata={"harmful": True},
        ))

    def stratum(self, sample: Sample) -> str:
        return sample.category[0]


@register_benchmark
class CSEPromptInjection(Benchmark):
    name: ClassVar[str] = "cse-prompt-injection"
    declared_metrics: ClassVar[tuple[MetricSpec, ...]] = (
        Rate("injection_success_rate", (Read("label", value=lambda label: label == "succeeded",
                                             labels=frozenset({"succeeded", "resisted"})), Read("unsafe", value=bool)),
             higher_is_better=False, description="share of cases whose judge question was answered yes",
             by=tuple((lambda sample, i=index, f=field: f"{f}:{sample.category[i]}")
                      for index, field in enumerate(("injection_type", "risk_category", "injection_variant")))),
    )
    description: ClassVar[str] = "CyberSecEval textual prompt injection: 251 cases; attack success rate"
    files: ClassVar[tuple[DataFile, ...]] = (PROMPT_INJECTION,)
    default_judges: ClassVar[tuple[str, ...]] = ("cse-prompt-injection",)
    headline: ClassVar[str | None] = "injection_success_rate"
    FIELDS: ClassVar[tuple[str, ...]] = ("injection_type", "risk_category", "injection_variant")

    def load(self, data: DataResolver) -> list[Sample]:
        path = data.path(PROMPT_INJECTION)
        needed = ("test_case_prompt", "user_input", "judge_question", *self.FIELDS)
        return build_samples(path, enumerate(read_rows(path, needed)), lambda i, row: Sample(
            id=f"cse-prompt-injection-{i}",
            benchmark=self.name,
            messages=[Message(role="system", content=row["test_case_prompt"]), Message(role="user", content=row["user_input"])],
            category=[row[f] for f in self.FIELDS],
            target=row["judge_question"],
            metadata={"harmful": True, "speaking_language": row.get("speaking_language")},
        ))

    def stratum(self, sample: Sample) -> str:
        return sample.category[2]
