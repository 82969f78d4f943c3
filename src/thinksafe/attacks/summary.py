"""Per-technique metrics and spend: every benchmark metric again for each technique's results."""

from __future__ import annotations

from typing import Any

from thinksafe.attacks.base import Attack, by_technique
from thinksafe.benchmarks.base import Benchmark
from thinksafe.schema import Channel, Metric, SampleResult


def technique_metrics(bench: Benchmark, attacks: list[Attack], results: list[SampleResult], judge: str,
                      channel: Channel) -> list[Metric]:
    """The benchmark's overall metrics over each technique's results, as group `attack:<label>`, plus
    each technique's own; empty when the run has only the benchmark's own prompts."""
    if [a.label for a in attacks] == ["none"]:
        return []
    groups = by_technique(results)
    out: list[Metric] = []
    for attack in attacks:
        subset = groups.get(attack.label, [])
        group = f"attack:{attack.label}"
        for metric in bench.metrics(subset, judge, channel):
            if metric.group == "all":
                out.append(metric.model_copy(update={"group": group}))
        out += [m.model_copy(update={"group": group}) for m in attack.metrics(subset, judge, channel)]
    return out


def technique_extra(attacks: list[Attack], results: list[SampleResult]) -> dict[str, dict[str, Any]]:
    """label -> items, target queries and tokens spent (attacker, judge and translator tokens where recorded)."""
    groups = by_technique(results)
    out: dict[str, dict[str, Any]] = {}
    for attack in attacks:
        subset = groups.get(attack.label, [])
        queries = sum(int(r.sample.metadata.get("attack_queries", 1)) for r in subset)
        figures: dict[str, Any] = {
            "kind": attack.kind,
            "measures": attack.measures,
            "items": len(subset),
            "target_queries": queries,
            "mean_target_queries": queries / len(subset) if subset else None,
            "target_prompt_tokens": sum(r.completion.prompt_tokens or 0 for r in subset),
            "target_completion_tokens": sum(r.completion.completion_tokens or 0 for r in subset),
            "other_role_tokens": sum(int(r.sample.metadata.get("attack_tokens", 0)) for r in subset),
            "errors": sum(1 for r in subset if r.completion.error),
        }
        figures.update(attack.extra(subset))
        out[attack.label] = figures
    return out
