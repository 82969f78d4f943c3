from hypothesis import given
from hypothesis import strategies as st

from thinksafe.reasoning import ThinkingMarkers, prompt_opens_thinking, split_reasoning

text_without_tags = st.text().filter(lambda t: "<think>" not in t and "</think>" not in t)


def test_tags_split():
    s = split_reasoning("<think>plan it</think>\n\nThe answer.")
    assert (s.reasoning, s.answer, s.truncated) == ("plan it", "The answer.", False)


def test_template_opened_thinking():
    s = split_reasoning("plan it\n</think>\n\nThe answer.", starts_in_thinking=True)
    assert (s.reasoning, s.answer, s.truncated) == ("plan it", "The answer.", False)


def test_close_without_open_starts_inside_thinking():
    s = split_reasoning("plan it</think>The answer.")
    assert (s.reasoning, s.answer) == ("plan it", "The answer.")


def test_never_closed_is_truncated():
    s = split_reasoning("<think>still going")
    assert (s.reasoning, s.answer, s.truncated) == ("still going", "", True)
    s = split_reasoning("still going", starts_in_thinking=True)
    assert (s.reasoning, s.answer, s.truncated) == ("still going", "", True)


def test_reasoning_content_field():
    s = split_reasoning("The answer.", reasoning_content="plan it")
    assert (s.reasoning, s.answer) == ("plan it", "The answer.")


def test_no_thinking_is_absent():
    s = split_reasoning("Just an answer.")
    assert s.reasoning is None and s.answer == "Just an answer." and not s.truncated


def test_custom_markers():
    markers = ThinkingMarkers(open="<reasoning>", close="</reasoning>")
    s = split_reasoning("<reasoning>a</reasoning>b", markers=markers)
    assert (s.reasoning, s.answer) == ("a", "b")
    assert split_reasoning("<think>a</think>b", markers=markers).reasoning is None


def test_prompt_opens_thinking():
    assert prompt_opens_thinking("<｜Assistant｜><think>\n")
    assert not prompt_opens_thinking("<|im_start|>assistant\n")


@given(text_without_tags, text_without_tags)
def test_property_tags_roundtrip(thinking, answer):
    s = split_reasoning(f"<think>{thinking}</think>{answer}")
    assert s.reasoning == thinking.strip() and s.answer == answer.strip() and not s.truncated


@given(text_without_tags, text_without_tags)
def test_property_template_opened(thinking, answer):
    s = split_reasoning(f"{thinking}</think>{answer}", starts_in_thinking=True)
    assert s.reasoning == thinking.strip() and s.answer == answer.strip()


@given(text_without_tags)
def test_property_no_tags_no_thinking(text):
    s = split_reasoning(text)
    assert s.reasoning is None and s.answer == text.strip()


@given(text_without_tags)
def test_property_unclosed_is_truncated_with_empty_answer(thinking):
    s = split_reasoning(thinking, starts_in_thinking=True)
    assert s.truncated and s.answer == "" and s.reasoning == thinking.strip()


@given(st.text(), st.booleans())
def test_property_nothing_is_lost(text, opened):
    """Every non-marker character of the output lands in one channel or the other."""
    s = split_reasoning(text, starts_in_thinking=opened)
    kept = ((s.reasoning or "") + s.answer).replace("<think>", "").replace("</think>", "")
    stripped = text.replace("<think>", "").replace("</think>", "")
    assert sorted("".join(kept.split())) == sorted("".join(stripped.split()))
