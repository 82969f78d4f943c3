"""The optional `vllm:` backend, tested without vLLM: a clear install hint, and (through a stand-in
`vllm` module) prompt rendering, sampling parameters and the thinking/answer split."""

import sys
import types

import pytest

from test_openai_backend import _run
from thinksafe.models import ModelLoadError, ModelOptions, load_model
from thinksafe.models.hf import render_prompt
from thinksafe.schema import GenerationParams, GenerationRequest, Message


def test_missing_vllm_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ModelLoadError, match=r"pip install 'thinksafe\[vllm\]'"):
        load_model("vllm:some/model")


class FakeLLM:
    """Records what the backend hands vLLM and answers from a script keyed by prompt ids."""

    instances: list = []

    def __init__(self, **kwargs):
        from tiny_model import build_tokenizer

        self.kwargs = kwargs
        self.calls = []
        self._tokenizer = build_tokenizer()
        FakeLLM.instances.append(self)

    def get_tokenizer(self):
        return self._tokenizer

    def generate(self, inputs, sampling, use_tqdm=True, lora_request=None):
        self.calls.append((inputs, sampling, lora_request))
        outs = []
        for item in inputs:
            text = self._tokenizer.decode(item["prompt_token_ids"], skip_special_tokens=True)
            if "fail" in text:
                raise RuntimeError("engine died")
            reply = "I weigh it.</think>\n\nThe answer." if "please" in text else "cut off thinking"
            stop = "please" in text  # like vLLM, an output that stopped on EOS keeps that token last
            ids = self._tokenizer(reply, add_special_tokens=False)["input_ids"] + ([self._tokenizer.eos_token_id] if stop else [])
            best = types.SimpleNamespace(text=reply, token_ids=ids, finish_reason="stop" if stop else "length",
                                         stop_reason=None)
            outs.append(types.SimpleNamespace(outputs=[best]))
        return outs


def fake_vllm_module():
    module = types.ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kw: dict(kw)
    return module


def test_vllm_backend_renders_chat_template_and_splits(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm_module())
    monkeypatch.setenv("THINKSAFE_VLLM_GPU_MEMORY", "0.5")
    sampled = GenerationParams(temperature=0.6, top_p=0.95, max_new_tokens=32, seed=7)
    greedy = GenerationParams(temperature=0.0, max_new_tokens=16)
    requests = [
        GenerationRequest(key="a", messages=[Message(role="user", content="please think")], params=sampled, sample_index=2),
        GenerationRequest(key="b", messages=[Message(role="user", content="long one")], params=greedy),
    ]
    model = load_model("vllm:org/model", ModelOptions())
    llm = FakeLLM.instances[-1]
    tokenizer = llm.get_tokenizer()
    out = _run(model, requests)

    assert llm.kwargs == {"model": "org/model", "seed": 0, "gpu_memory_utilization": 0.5}
    (inputs, sampling, lora), = llm.calls
    rendered = render_prompt(tokenizer, requests[0].messages)
    assert rendered.endswith("<think>\n")  # the R1 template opens the thinking
    assert inputs[0]["prompt_token_ids"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    assert sampling == [
        {"max_tokens": 32, "temperature": 0.6, "top_p": 0.95, "seed": 9},
        {"max_tokens": 16, "temperature": 0.0},
    ]
    assert lora is None
    first, second = out
    assert (first.reasoning, first.answer, first.finish_reason, first.reasoning_truncated) == (
        "I weigh it.", "The answer.", "stop", False)
    assert (second.reasoning, second.answer, second.reasoning_truncated, second.finish_reason) == (
        "cut off thinking", "", True, "length")
    reply_ids = tokenizer("I weigh it.</think>\n\nThe answer.", add_special_tokens=False)["input_ids"]
    assert first.prompt_tokens == len(inputs[0]["prompt_token_ids"]) and first.completion_tokens == len(reply_ids)
    assert first.text == "I weigh it.</think>\n\nThe answer."  # decoded from the ids, final EOS dropped


def test_vllm_engine_options_from_spec(monkeypatch):
    """`#key=value` after a vllm: spec sets the engine; the cache identity stays the bare model."""
    from thinksafe.models.base import canonical_spec

    monkeypatch.setitem(sys.modules, "vllm", fake_vllm_module())
    monkeypatch.delenv("THINKSAFE_VLLM_GPU_MEMORY", raising=False)
    spec = ("vllm:org/model#tensor_parallel_size=2,pipeline_parallel_size=1,gpu_memory_utilization=0.8,"
            "max_model_len=4096,enable_prefix_caching=false,dtype=bfloat16,enforce_eager=true")
    model = load_model(spec)
    assert FakeLLM.instances[-1].kwargs == {
        "model": "org/model", "seed": 0, "tensor_parallel_size": 2, "pipeline_parallel_size": 1,
        "gpu_memory_utilization": 0.8, "max_model_len": 4096, "enable_prefix_caching": False,
        "dtype": "bfloat16", "enforce_eager": True,
    }
    assert model.spec == "vllm:org/model" and canonical_spec(spec) == "vllm:org/model"
    assert model.max_model_len == 4096  # the fake engine has no config: the option is used
    long = GenerationRequest(key="l", messages=[Message(role="user", content="x " * 3000)],
                             params=GenerationParams(temperature=0.0, max_new_tokens=8))
    (completion,) = _run(model, [long])
    assert "does not fit max_model_len=4096" in completion.error
    with pytest.raises(ModelLoadError, match="known: tensor_parallel_size"):
        load_model("vllm:org/model#tp=2")


def test_vllm_backend_records_engine_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", fake_vllm_module())
    params = GenerationParams(temperature=0.0, max_new_tokens=8)
    requests = [GenerationRequest(key="x", messages=[Message(role="user", content="fail now")], params=params)]
    (completion,) = _run(load_model("vllm:org/model"), requests)
    assert completion.error == "RuntimeError: engine died"
