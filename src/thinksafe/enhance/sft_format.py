"""From a chat record to training tokens, in the model's own chat template, thinking kept.

Why not hand the messages to the trainer's chat-template path: R1-style templates strip
everything up to `</think>` from assistant turns (so past turns do not carry old thinking),
which would train the model on answers without thinking. Instead the prompt is the
template's rendering of the conversation up to the last user turn with the generation
prompt (exactly what the model sees at inference, `models.hf.render_prompt`), and the
completion is what the model should then write:
- a template that opens the thinking itself (R1 distills end the prompt with `<think>\\n`):
  `<thinking>\\n</think>\\n\\n<answer><eos>`;
- any other template: `<think>\\n<thinking>\\n</think>\\n\\n<answer><eos>`.
Prompt and completion are tokenised apart (no special tokens added: the template has
them), as at inference; labels are -100 on the prompt, so the loss is on the assistant's
tokens only.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from thinksafe.reasoning import DEFAULT_MARKERS, ThinkingMarkers, prompt_opens_thinking, split_reasoning
from thinksafe.schema import Message

IGNORE = -100


class Encoded(BaseModel):
    input_ids: list[int]
    labels: list[int]
    prompt_tokens: int
    completion_tokens: int
    truncated: bool


def split_record(record: dict) -> tuple[list[Message], str]:
    """(conversation up to the final user turn, the final assistant text)."""
    messages = [Message(role=m["role"], content=m["content"]) for m in record["messages"]]
    if len(messages) < 2 or messages[-1].role != "assistant" or messages[-2].role != "user":
        raise ValueError(f"record {record.get('id')!r} must end with a user turn and then the assistant's reply")
    return messages[:-1], messages[-1].content


def completion_text(prompt: str, assistant: str, markers: ThinkingMarkers = DEFAULT_MARKERS) -> str:
    """What the model should write after `prompt` for this assistant reply (without EOS)."""
    split = split_reasoning(assistant, markers=markers)
    opened = prompt_opens_thinking(prompt, markers)
    if split.reasoning is None:
        return f"{markers.close}\n\n{split.answer}" if opened else split.answer
    body = f"{split.reasoning}\n{markers.close}\n\n{split.answer}"
    return body if opened else f"{markers.open}\n{body}"


def encode_record(tokenizer: Any, record: dict, max_length: int | None, markers: ThinkingMarkers = DEFAULT_MARKERS) -> Encoded:
    from thinksafe.models.hf import render_prompt

    prompt_messages, assistant = split_record(record)
    prompt = render_prompt(tokenizer, prompt_messages)
    completion = completion_text(prompt, assistant, markers)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    input_ids = prompt_ids + completion_ids
    labels = [IGNORE] * len(prompt_ids) + completion_ids
    truncated = max_length is not None and len(input_ids) > max_length
    if truncated:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return Encoded(
        input_ids=input_ids, labels=labels, prompt_tokens=len(prompt_ids), completion_tokens=len(completion_ids), truncated=truncated,
    )
