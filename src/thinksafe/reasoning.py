"""Splitting a model's thinking from the answer the user sees."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ThinkingMarkers(BaseModel):
    model_config = ConfigDict(frozen=True)

    open: str = "<think>"
    close: str = "</think>"


DEFAULT_MARKERS = ThinkingMarkers()


class Split(BaseModel):
    reasoning: str | None
    answer: str
    truncated: bool = False


def split_reasoning(
    text: str,
    *,
    reasoning_content: str | None = None,
    starts_in_thinking: bool = False,
    markers: ThinkingMarkers = DEFAULT_MARKERS,
) -> Split:
    """Split raw model output into (reasoning, answer).

    Cases, in order:
    - an API's separate ``reasoning_content`` is the thinking; the text is the answer
      (tags inside the text are split too and their thinking appended);
    - ``<think>...</think>`` in the text;
    - ``</think>`` without an opening tag, or a prompt that already opened the thinking
      (R1 distills' chat template ends with ``<think>\\n``): the text starts inside it;
    - an opened thinking that never closes is truncated: all of it is reasoning and the
      answer is empty;
    - otherwise the model did not think: reasoning is None.
    """
    if reasoning_content:
        inner = split_reasoning(text, markers=markers)
        extra = f"\n{inner.reasoning}" if inner.reasoning else ""
        return Split(reasoning=reasoning_content + extra, answer=inner.answer, truncated=inner.truncated)

    open_at = text.find(markers.open)
    close_at = text.find(markers.close)
    if open_at != -1 and (close_at == -1 or open_at < close_at) and not starts_in_thinking:
        before = text[:open_at]
        rest = text[open_at + len(markers.open) :]
        end = rest.find(markers.close)
        if end == -1:
            return Split(reasoning=rest.strip(), answer="", truncated=True)
        answer = before + rest[end + len(markers.close) :]
        return Split(reasoning=rest[:end].strip(), answer=answer.strip())
    if close_at != -1:
        thinking = text[:close_at]
        if thinking.lstrip().startswith(markers.open):  # template opened it and the model repeated it
            thinking = thinking.lstrip()[len(markers.open) :]
        return Split(reasoning=thinking.strip(), answer=text[close_at + len(markers.close) :].strip())
    if starts_in_thinking or open_at != -1:
        thinking = text[open_at + len(markers.open) :] if open_at != -1 else text
        return Split(reasoning=thinking.strip(), answer="", truncated=True)
    return Split(reasoning=None, answer=text.strip())


def prompt_opens_thinking(rendered_prompt: str, markers: ThinkingMarkers = DEFAULT_MARKERS) -> bool:
    """True when a rendered chat prompt ends inside an opened thinking block."""
    tail = rendered_prompt.rstrip()
    return tail.endswith(markers.open)
