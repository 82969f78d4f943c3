"""`math-answer`: is the final answer equal to the reference? Extraction by rules, equality by math-verify.

How the answer is found in a channel's text (the first rule that matches wins):
1. the last `\\boxed{...}` (or `\\fbox{...}`), braces balanced;
2. the text after the last `####` (GSM8K's own answer marker);
3. an answer phrase: English "final answer is / the answer is / answer:", Chinese
   "最终答案是 / 答案是 / 答案为 / 答： / 所以…=…" style phrases (`ANSWER_PHRASES_ZH`);
4. the last number in the text.
Equality: math-verify parses the reference and the extracted answer (LaTeX or plain
expressions) and compares them symbolically. Multiple-choice references
(`sample.metadata["answer_type"] == "choice"`) compare the set of option letters instead.

Labels: "correct", "incorrect", "no_answer" (the text holds nothing answer-like: the
model's failure, counted as incorrect by the math benchmarks). A reference that cannot be
parsed, or a sample without one, is unscored: that is the judge's failure, not the model's.
"""

from __future__ import annotations

import re
import threading
from typing import ClassVar

from pydantic import BaseModel

from thinksafe.judges.base import JudgeInput, TextJudge, register_judge
from thinksafe.schema import Judgement
from thinksafe.store import stable_hash

ANSWER_PHRASES_EN = [
    r"final answer\s*(?:is|:)\s*",
    r"the answer is\s*:?\s*",
    r"\banswer\s*:\s*",
]
ANSWER_PHRASES_ZH = [
    r"最终答案\s*(?:是|为|：|:)\s*",
    r"(?:正确)?答案\s*(?:应该|应|就)?\s*(?:是|为|：|:)\s*",
    r"(?<![a-zA-Z])答\s*[：:]\s*",
    r"(?:所以|因此|故)[^。\n]{0,30}?(?:是|为|等于|=|有)\s*",
]
_PHRASE = re.compile("|".join(f"(?:{p})" for p in ANSWER_PHRASES_EN + ANSWER_PHRASES_ZH), re.IGNORECASE)
_PHRASE_END = re.compile(r"(?:[。；;\n]|\.\s|\.$|，|,\s)")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?")
THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
CJK = re.compile(r"[\u4e00-\u9fff]")
NUMBER_THEN_WORDS = re.compile(r"^\\?\$?\s*(-?\d[\d,]*(?:\.\d+)?(?:/\d+)?)\s+[A-Za-z][A-Za-z\s]*$")
CHOICE_LETTERS = re.compile(r"\b([A-H])\b")


class Extraction(BaseModel):
    text: str
    method: str


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} with balanced braces (or `\\boxed 5`)."""
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)", text)]
    for match in reversed(starts):
        rest = text[match.end() :]
        if rest.startswith("{"):
            depth = 0
            for index, char in enumerate(rest):
                if char == "{":
                    depth += 1
                elif char == "}":
                    depth -= 1
                    if depth == 0:
                        return rest[1:index].strip()
            continue  # unbalanced: try an earlier one
        bare = re.match(r"\s+([^\s$]+)", rest)
        if bare:
            return bare.group(1).strip()
    return None


def extract_answer(text: str) -> Extraction | None:
    """The final answer in `text`, by the rules in the module docstring."""
    boxed = last_boxed(text)
    if boxed:
        return Extraction(text=boxed, method="boxed")
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip().splitlines()
        if tail and tail[0].strip():
            return Extraction(text=tail[0].strip(), method="####")
    phrases = list(_PHRASE.finditer(text))
    for match in reversed(phrases):
        rest = text[match.end() :]
        end = _PHRASE_END.search(rest)
        found = _tidy_phrase(rest[: end.start()] if end else rest)
        if found:
            return Extraction(text=found, method="phrase")
    numbers = NUMBER.findall(text)
    if numbers:
        return Extraction(text=numbers[-1].strip(), method="last_number")
    return None


def _tidy_phrase(text: str) -> str:
    """Drop leading punctuation; in Chinese prose ("还剩9页") keep the last number."""
    text = text.strip().lstrip("：:").strip().strip("*$ ")
    if CJK.search(text):
        numbers = NUMBER.findall(text)
        if numbers:
            return numbers[-1].strip()
    unit = NUMBER_THEN_WORDS.match(text)  # "14 dollars", "3 apples"
    return unit.group(1) if unit else text


def _clean_number(text: str) -> str:
    text = text.strip().rstrip(".").strip()
    return text.replace(",", "") if THOUSANDS.match(text) else text


def _as_math(text: str) -> str:
    text = _clean_number(text)
    return text if UNESCAPED_DOLLAR.search(text) else f"${text}$"


def _timeout() -> int | None:
    """math-verify's timeouts use SIGALRM, which only works on the main thread."""
    return 5 if threading.current_thread() is threading.main_thread() else None


def parse_math(text: str) -> list:
    from math_verify import parse

    timeout = _timeout()
    parsed = parse(_as_math(text), parsing_timeout=timeout)
    if not parsed:
        parsed = parse(_clean_number(text), parsing_timeout=timeout)
    return parsed


def math_equal(reference: str, answer: str) -> bool | None:
    """True/False when both parse; None when the reference cannot be parsed."""
    from math_verify import verify

    gold = parse_math(reference)
    if not gold:
        return None
    predicted = parse_math(answer)
    if not predicted:
        return _clean_number(answer).strip("$ ").lower() == _clean_number(reference).strip("$ ").lower()
    return bool(verify(gold, predicted, timeout_seconds=_timeout()))


def choice_letters(text: str) -> frozenset[str]:
    """Option letters named in an extracted answer ("C", "(B)", "A, D", "AD", "选C")."""
    compact = re.sub(r"[\s,，、和及()（）\[\]{}$]|\\text|and", "", text.upper())
    if compact and re.fullmatch(r"[A-H]+", compact):
        return frozenset(compact)
    return frozenset(CHOICE_LETTERS.findall(text.upper()))


def extract_choice(text: str) -> Extraction | None:
    """A multiple-choice answer: boxed, answer phrase, '选X', or the last standalone letter."""
    boxed = last_boxed(text)
    if boxed and choice_letters(boxed):
        return Extraction(text=boxed, method="boxed")
    picks = re.findall(r"(?:选|选择|答案是|答案为|答案[：:]|answer is|answer:)\s*\(?([A-H](?:\s*[,，、和]?\s*[A-H])*)\)?", text, re.I)
    if picks:
        return Extraction(text=picks[-1], method="phrase")
    letters = re.findall(r"(?<![A-Za-z])([A-H])(?![A-Za-z])", text)
    if letters:
        return Extraction(text=letters[-1], method="last_letter")
    return None


@register_judge("math-answer")
class MathAnswer(TextJudge):
    unscored_if_empty: ClassVar[bool] = False  # its own checks come first
    version: ClassVar[str] = "1"
    labels: ClassVar[tuple[str, ...]] = ("correct", "incorrect", "no_answer")
    readings: ClassVar[frozenset[str] | None] = frozenset({"label"})
    description: ClassVar[str] = "final math answer (\\boxed, ####, answer phrases EN/ZH, last number) checked with math-verify"

    def identity(self) -> dict:
        return {"name": self.name, "version": self.version, "rules": stable_hash([ANSWER_PHRASES_EN, ANSWER_PHRASES_ZH])}

    def read(self, item: JudgeInput) -> Judgement:
        reference = item.sample.target
        if reference is None or not str(reference).strip():
            return self.unscored(item, "the sample has no reference answer")
        if not item.text.strip():
            return self.unscored(item, f"empty {item.channel}")
        choice = item.sample.metadata.get("answer_type") == "choice"
        found = extract_choice(item.text) if choice else extract_answer(item.text)
        if found is None:
            return Judgement(judge=self.name, channel=item.channel, label="no_answer", score=0.0)
        details = {"extracted": found.text, "method": found.method}
        if choice:
            gold = choice_letters(reference)
            if not gold:
                return self.unscored(item, f"reference {reference!r} names no option letter")
            equal: bool | None = choice_letters(found.text) == gold
        else:
            try:
                equal = math_equal(reference, found.text)
            except Exception as error:  # noqa: BLE001 - a parser crash is the judge's failure
                return self.unscored(item, f"math-verify failed: {type(error).__name__}: {error}")
            if equal is None:
                return self.unscored(item, f"reference {reference!r} could not be parsed")
        label = "correct" if equal else "incorrect"
        return Judgement(judge=self.name, channel=item.channel, label=label, score=float(equal), details=details)
