"""Judges: rule-based, LLM rubric and classifier. Each module registers its judges."""

from thinksafe.judges.base import Judge, JudgeContext, JudgeInput, judge_names, make_judge, register_judge

__all__ = ["Judge", "JudgeContext", "JudgeInput", "judge_names", "make_judge", "register_judge"]
