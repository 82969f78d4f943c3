"""Which option a text chose, for the `mcq-choice` judge: pure functions of text.

`extract_choice` (answer channel) and `final_commitment` (thinking channel) read the option a
model chose from real Chinese and English replies: 答案：A, 答案是（B）, 选A, 应选择C, 选项A,
（A）, full-width letters, `\\boxed{A}`, "the answer is B", the option's text instead of its
letter, an explanation before the letter. A letter that is not one of the question's options,
or no choice at all, gives None with the reason.
"""

from __future__ import annotations

import re
import unicodedata

from pydantic import BaseModel, Field

from thinksafe.benchmarks.mcq import _MARKER
from thinksafe.store import stable_hash



class Choice(BaseModel):
    """The option a text chose, how it was found, or why none was."""

    letter: str | None = None
    how: str | None = None
    reason: str | None = None
    seen: list[str] = Field(default_factory=list, description="every committed letter, in order")


def choice_text(text: str) -> str:
    """For reading a choice: full-width to ASCII, markdown emphasis dropped, `\\boxed{X}` opened."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"\\boxed\{\s*(?:\\text(?:bf)?\{)?\s*([^{}]*?)\s*\}?\s*\}", r"答案:\1", text)
    text = re.sub(r"[*_`#]+", "", text)
    text = text.replace("【", "[").replace("】", "]").replace("“", '"').replace("”", '"')
    return text


_NOT_LATIN_BEFORE = r"(?<![A-Za-z0-9])"
_CHOSEN_END = r"(?![A-Za-z0-9])(?!\s*[吗?])"
_STRICT_END = r"(?=$|[\s.。,，、;；:!！)\]\"'*]|选项|项|是正确|正确)(?!\s*[吗?])"
_NEGATION = re.compile(r"(?:不|别|非|没|勿|未|排除|而非)\s*(?:应该?|应当|能|可以|会|要|是)?\s*$")
_BRA, _KET = r"\s*[(\[]?\s*", r"\s*[)\]]?"

_ANSWER_WORD = r"(?:正确|最终|最后的?)?答案\s*(?:应该|应当|应|就|可能)?\s*(?:是|为|选|选择)?\s*[:：]?\s*(?:选项|选)?"
_RIGHT_WORD = r"(?:正确|对|恰当|合适|符合题意)的?(?:选项|答案|是|为|一项|项)+\s*[:：]?\s*(?:选项)?"
_IS_RIGHT = r"\s*(?:选项|项)?\s*(?:是|为|才是)?\s*(?:正确的?|对的|最符合|最合适|最恰当|正确答案)(?!\s*[吗?])"
_EN_ANSWER = r"(?<![A-Za-z])(?i:answer)\s*(?i:is|should be|would be)?\s*:?\s*(?i:option\s*)?\(?([A-H])\)?(?![A-Za-z0-9])"
_EN_CHOOSE = r"(?<![A-Za-z])(?i:choose|select|pick|go with)\s+(?i:option\s*)?\(?([A-H])\)?(?![A-Za-z0-9])"
_EN_CORRECT = r"(?<![A-Za-z])(?i:option)\s*\(?([A-H])\)?\s*(?i:is)\s*(?i:the\s+)?(?i:correct|right)"

# commitments to one option: (pattern with the letter as group 1, rule name)
_COMMITMENTS: list[tuple[re.Pattern, str]] = [
    (re.compile(rf"{_ANSWER_WORD}{_BRA}([A-Ha-h]){_KET}{_CHOSEN_END}"), "答案 X"),
    (re.compile(rf"(?:选择|选)\s*[:：]?\s*(?:答案)?{_BRA}([A-H]){_KET}{_CHOSEN_END}"), "选 X"),
    (re.compile(rf"{_RIGHT_WORD}{_BRA}([A-H]){_KET}{_CHOSEN_END}"), "正确的是 X"),
    (re.compile(rf"(?:选项)?{_BRA}{_NOT_LATIN_BEFORE}([A-H]){_KET}{_IS_RIGHT}"), "X 正确"),
    (re.compile(rf"(?:应该是|应是|就是|我认为是|我觉得是|我选)\s*(?:选项)?{_BRA}([A-H]){_KET}{_STRICT_END}"), "是 X"),
    (re.compile(_EN_ANSWER), "answer is X"),
    (re.compile(_EN_CHOOSE), "choose X"),
    (re.compile(_EN_CORRECT), "option X is correct"),
]
_LEADING = re.compile(r"^\s*(?:答案|选项|选)?\s*[:：]?\s*[(\[]?\s*([A-H])\s*(?:[)\]]|(?=$|[.、:,，。;；]|项)|\s+(?![A-Za-z]))")
_LAST_LINE = re.compile(r"^\s*[(\[]?\s*([A-H])\s*[)\]]?\s*[.。]?\s*$")
_ANSWER_TEXT = re.compile(r"答案\s*(?:应该|应当|应)?\s*(?:是|为)?\s*[:：]?\s*\"?([^\n\"]{1,80})")
_PUNCT = re.compile(r"[\s\"'「」『』《》.。,，、;；:：!！?？()\[\]]+")


def _bare(text: str) -> str:
    return _PUNCT.sub("", text)


def commitments(text: str) -> list[tuple[int, str, str]]:
    """(position, letter, rule) of every non-negated commitment to a letter, in text order."""
    found: dict[int, tuple[int, str, str]] = {}
    for pattern, name in _COMMITMENTS:
        for match in pattern.finditer(text):
            if _NEGATION.search(text[max(0, match.start() - 6) : match.start()]):
                continue
            found.setdefault(match.start(1), (match.start(1), match.group(1).upper(), name))  # one per letter position
    return sorted(found.values())


def _option_by_text(phrase: str, options: dict[str, str], *, prefix: bool) -> str | None:
    """The single option whose text the phrase is (or starts with)."""
    bare = _bare(phrase)
    if not bare:
        return None
    texts = {letter: _bare(unicodedata.normalize("NFKC", text)) for letter, text in options.items()}
    exact = [letter for letter, text in texts.items() if text and bare == text]
    if len(exact) == 1:
        return exact[0]
    if not prefix:
        return None
    starts = [letter for letter, text in texts.items() if text and bare.startswith(text)]
    if len(starts) > 1:  # the longest option text wins when one contains another ("是" / "是的")
        longest = max(len(texts[s]) for s in starts)
        starts = [s for s in starts if len(texts[s]) == longest]
    return starts[0] if len(starts) == 1 else None


def _check(letter: str, options: dict[str, str], how: str, seen: list[str]) -> Choice:
    if letter not in options:
        return Choice(reason=f"chose {letter}, which is not an option ({'/'.join(options)})", how=how, seen=seen)
    return Choice(letter=letter, how=how, seen=seen)


def _last_commitment(norm: str, options: dict[str, str]) -> tuple[Choice | None, list[str]]:
    """The last explicit commitment in normalised text (None when there is none), and every letter seen."""
    found = commitments(norm)
    seen = [letter for _, letter, _ in found]
    if not found:
        return None, seen
    _, letter, how = found[-1]
    return _check(letter, options, how, seen), seen


def _option_after_answer_marker(norm: str, options: dict[str, str]) -> str | None:
    """The option whose text follows the last 答案 that names one."""
    for match in reversed(list(_ANSWER_TEXT.finditer(norm))):
        letter = _option_by_text(match.group(1), options, prefix=True)
        if letter:
            return letter
    return None


def extract_choice(text: str, options: dict[str, str]) -> Choice:
    """The option the answer channel chose: the last explicit commitment, else a leading
    letter, else the option's own text, else a lone letter on the last line."""
    norm = choice_text(text).strip()
    if not norm:
        return Choice(reason="empty answer")
    committed, seen = _last_commitment(norm, options)
    if committed is not None:
        return committed
    lead = _LEADING.match(norm)
    if lead:
        return _check(lead.group(1).upper(), options, "leading letter", seen)
    by_text = _answer_text(norm, options)
    if by_text:
        return Choice(letter=by_text[0], how=by_text[1], seen=seen)
    lines = [line for line in norm.splitlines() if line.strip()]
    last = _LAST_LINE.match(lines[-1]) if lines else None
    if last:
        return _check(last.group(1).upper(), options, "letter on the last line", seen)
    return Choice(reason="no option letter or option text found", seen=seen)


def _answer_text(norm: str, options: dict[str, str]) -> tuple[str, str] | None:
    """An option chosen by its text: after 答案, as the first line, or uniquely named."""
    letter = _option_after_answer_marker(norm, options)
    if letter:
        return letter, "答案 + option text"
    first = norm.splitlines()[0]
    head = re.split(r"[\n。，,；;！!]", first, maxsplit=1)[0]
    letter = _option_by_text(head, options, prefix=False)
    if letter:
        return letter, "option text"
    yes = _option_by_text("是", options, prefix=False)
    if yes and head.startswith("是的"):
        return yes, "option text (是的)"
    bare_text = _bare(norm)
    named = [
        letter for letter, option in options.items()
        if len(bare := _bare(unicodedata.normalize("NFKC", option))) >= 3 and bare in bare_text
    ]
    if len(named) == 1:
        return named[0], "only option text named"
    return None


def final_commitment(thinking: str, options: dict[str, str]) -> Choice:
    """The option the thinking finally commits to: its last commitment (or 答案 + option text)."""
    norm = choice_text(thinking)
    if not norm.strip():
        return Choice(reason="empty thinking")
    committed, seen = _last_commitment(norm, options)
    if committed is not None:
        return committed
    letter = _option_after_answer_marker(norm, options)
    if letter:
        return Choice(letter=letter, how="答案 + option text", seen=seen)
    return Choice(reason="the thinking commits to no option", seen=seen)


RULES_FINGERPRINT = stable_hash(
    [_MARKER.pattern, [p.pattern for p, _ in _COMMITMENTS], _LEADING.pattern, _LAST_LINE.pattern, _ANSWER_TEXT.pattern, _NEGATION.pattern]
)
