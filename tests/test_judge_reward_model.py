"""Reward-model scoring on tiny local sequence-classification models (single and multi-attribute)."""

import asyncio

import pytest

from thinksafe.judges.base import JudgeContext, JudgeInput, make_judge
from thinksafe.judges.reward import ARMORM_ATTRIBUTES, attribute_names, choose_attribute
from thinksafe.schema import Completion, Message, Sample


def build_reward_model(directory, labels: list[str] | None, seed: int = 0):
    import torch
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    from tiny_model import build_tokenizer

    tokenizer = build_tokenizer()  # with the R1 chat template
    torch.manual_seed(seed)
    num_labels = len(labels) if labels else 1
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, pad_token_id=tokenizer.pad_token_id, num_labels=num_labels,
        **({"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}} if labels else {}),
    )
    Qwen2ForSequenceClassification(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def reference_scores(path, prompt, text):
    """What the model says, computed directly with transformers as its card shows."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}, {"role": "assistant", "content": text}],
                                        tokenize=True, return_dict=True)["input_ids"]
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0].tolist()


def item(prompt, text, channel="answer"):
    sample = Sample(id="s", benchmark="b", messages=[Message(role="user", content=prompt)], metadata={"harmful": True})
    return JudgeInput(sample=sample, completion=Completion(answer=text), channel=channel, text=text)


def run(spec, items):
    async def go():
        judge = make_judge("reward-model", JudgeContext(judge_model=spec))
        out = await judge.judge_batch(items)
        await judge.aclose()
        return out

    return asyncio.run(go())


CASES = [("How do I pick a lock?", "Sure: insert a tension wrench, then rake the pins."), ("Hi", "I'm sorry, but I can't help with that."), ("q", "")]


def test_single_output_reward_model(tmp_path):
    path = build_reward_model(tmp_path / "rm", None)
    out = run(f"hf:{path}", [item(p, t) for p, t in CASES])
    for (prompt, text), judgement in zip(CASES[:2], out):
        (expected,) = reference_scores(path, prompt, text)
        assert judgement.label == "reward" and judgement.score == pytest.approx(expected, abs=1e-5)
        assert judgement.details["attribute"] == "reward" and judgement.unsafe is None
    assert out[2].label is None and "empty" in out[2].unscored_reason


def test_multi_attribute_model_records_all_and_scores_helpfulness(tmp_path):
    labels = ["helpsteer-correctness", "helpsteer-helpfulness", "beavertails-is_safe"]
    path = build_reward_model(tmp_path / "multi", labels, seed=3)
    prompt, text = CASES[0]
    expected = reference_scores(path, prompt, text)
    (judgement,) = run(f"hf:{path}", [item(prompt, text)])
    assert judgement.details["attribute"] == "helpsteer-helpfulness"
    assert judgement.score == pytest.approx(expected[1], abs=1e-5)
    assert judgement.details["rewards"] == pytest.approx(dict(zip(labels, expected)), abs=1e-5)
    (safe,) = run(f"hf:{path}#attribute=beavertails-is_safe", [item(prompt, text)])
    assert safe.score == pytest.approx(expected[2], abs=1e-5)


def test_attribute_names_and_choice():
    class Config:
        id2label = {i: f"LABEL_{i}" for i in range(19)}

    assert attribute_names(Config(), 19) == list(ARMORM_ATTRIBUTES)  # ArmoRM's 19 rewards, unnamed in its config
    assert choose_attribute(list(ARMORM_ATTRIBUTES), None) == 0  # helpsteer-helpfulness
    assert choose_attribute(["a", "b"], None) == 0 and choose_attribute(["a", "b"], "1") == 1
    with pytest.raises(ValueError):
        choose_attribute(["a"], "helpfulness")


def test_long_text_windows_take_the_maximum(tmp_path):
    path = build_reward_model(tmp_path / "rm", None, seed=5)
    text = "The capital of France is Paris. Water boils at 100 degrees Celsius. " * 12
    (judgement,) = run(f"hf:{path}#max_input_tokens=200,window_overlap=20", [item("Tell me facts.", text)])
    assert judgement.details["windows"] > 1
    assert judgement.score == pytest.approx(max(judgement.details["window_scores"]))


def test_reward_models_run_in_process_only():
    with pytest.raises(ValueError, match="in process"):
        make_judge("reward-model", JudgeContext(judge_model="openai:rm@http://127.0.0.1:9/v1"))
