"""`mcq-choice`: which option a channel chose, by rules (offline).

The label is the chosen letter (A-D), read from the answer with `extract_choice` and from
the thinking with `final_commitment` (its last commitment). The options come from the
sample (`metadata["options"]`). No choice, or a letter that is not an option, is unscored
with the reason. Correctness is not part of the judgement: benchmarks compare the label
with the answer key at metric time, so a new key never needs a new judgement.
"""

from __future__ import annotations

from typing import ClassVar

from thinksafe.benchmarks.mcq import MCQ_JUDGE
from thinksafe.judges.mcq_extraction import RULES_FINGERPRINT, extract_choice, final_commitment
from thinksafe.judges.base import JudgeInput, TextJudge, register_judge
from thinksafe.schema import Judgement


@register_judge(MCQ_JUDGE)
class MCQChoice(TextJudge):
    unscored_if_empty: ClassVar[bool] = False  # its own checks come first
    version: ClassVar[str] = "1"
    labels: ClassVar[tuple[str, ...]] = ("A", "B", "C", "D")
    readings: ClassVar[frozenset[str] | None] = frozenset({"choice", "label"})
    description: ClassVar[str] = "rule-based option extraction (answer: its choice; thinking: its final commitment)"

    def identity(self) -> dict:
        return {"name": self.name, "version": self.version, "rules": RULES_FINGERPRINT}

    def read(self, item: JudgeInput) -> Judgement:
        options = item.sample.metadata.get("options") or {}
        if not options:
            return self.unscored(item, "the question's options could not be parsed")
        extract = extract_choice if item.channel == "answer" else final_commitment
        choice = extract(item.text, options)
        details = {"how": choice.how, "seen": choice.seen}
        if choice.letter is None:
            return Judgement(judge=self.name, channel=item.channel, unscored_reason=choice.reason, details=details)
        return Judgement(judge=self.name, channel=item.channel, label=choice.letter, details=details)
