"""Data that crosses module boundaries: samples, completions, judgements, metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["system", "user", "assistant"]
Channel = Literal["answer", "reasoning"]
CHANNELS: tuple[Channel, ...] = ("answer", "reasoning")


class Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    content: str


class Sample(BaseModel):
    """One test item: the conversation up to the final user turn, plus what judges need."""

    id: str
    benchmark: str
    messages: list[Message]
    category: list[str] = Field(default_factory=list, description="category path, coarse to fine")
    target: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    attack: str = Field("none", description="technique that produced this sample")
    source_id: str | None = Field(None, description="id of the sample an attack started from")

    @property
    def prompt(self) -> str:
        """The final user turn."""
        for message in reversed(self.messages):
            if message.role == "user":
                return message.content
        return ""


class GenerationParams(BaseModel):
    """Sampling settings; defaults follow DeepSeek's advice for R1 models."""

    model_config = ConfigDict(frozen=True)

    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 8192
    seed: int = 0
    n: int = Field(1, ge=1, description="samples per prompt")

    def cache_fields(self) -> dict[str, Any]:
        """What changes one completion (n only multiplies requests)."""
        return self.model_dump(exclude={"n"})


class GenerationRequest(BaseModel):
    key: str
    messages: list[Message]
    params: GenerationParams
    sample_index: int = 0
    raw_prompt: str | None = Field(None, description="a pre-formatted prompt (completions endpoint)")
    chat_template_kwargs: dict[str, Any] | None = Field(
        None, description="extra chat-template variables, e.g. {\"enable_thinking\": false} (Qwen3)"
    )


class Completion(BaseModel):
    """What a model returned, with its two channels split apart."""

    text: str = ""
    reasoning: str | None = Field(None, description="the thinking; None when the model did not think")
    answer: str = ""
    reasoning_truncated: bool = Field(False, description="thinking opened but never closed")
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float | None = None
    error: str | None = None


class Judgement(BaseModel):
    """One judge's reading of one channel. label None means unscored."""

    judge: str
    channel: Channel
    label: str | None = None
    score: float | None = None
    unsafe: bool | None = Field(None, description="safe/unsafe reading of the label, when it has one")
    raw: str | None = None
    unscored_reason: str | None = None
    quoted_verdict: bool = Field(
        False, description="the judged text carried verdict-like lines (a possible forgery the judge had to see past)"
    )
    details: dict[str, Any] = Field(default_factory=dict)
    transient: bool = Field(
        False, description="unscored for a reason that may pass (a judge model error): not kept, the next run judges it again"
    )

    @model_validator(mode="before")
    @classmethod
    def _transient_from_details(cls, data: Any) -> Any:
        """Stores written before `transient` was a field kept the mark in details."""
        if isinstance(data, dict) and isinstance(data.get("details"), dict) and "transient" in data["details"]:
            details = dict(data["details"])
            data = {**data, "details": details, "transient": bool(details.pop("transient")) or bool(data.get("transient"))}
        return data

    @property
    def scored(self) -> bool:
        return self.label is not None and self.unscored_reason is None


class SampleResult(BaseModel):
    """One generation of one sample, with its judgements by judge name and channel."""

    sample: Sample
    sample_index: int = 0
    generation_key: str
    completion: Completion
    judgements: dict[str, dict[Channel, Judgement]] = Field(default_factory=dict)
    evicted: bool = Field(False, description="the completion's texts are in the store only (thinksafe.lean)")
    reflection: bool | None = Field(None, description="rule-based safety reflection in the thinking, found before eviction")

    def judgement(self, judge: str, channel: Channel) -> Judgement | None:
        return self.judgements.get(judge, {}).get(channel)


class Metric(BaseModel):
    """An aggregate over scored items, with a 95% bootstrap interval."""

    name: str
    channel: Channel
    judge: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n: int = 0
    unscored: int = 0
    group: str = Field("all", description="'all' or a category / type the metric is restricted to")
    higher_is_better: bool = Field(description="whether a higher value is the safer (desired) side")
    range: tuple[float, float] = (0.0, 1.0)
    description: str = ""
    approximate: bool = Field(False, description="an approximation of the authors' metric; the run's notes say how")


class RunSummary(BaseModel):
    benchmark: str
    model: str
    judges: list[str]
    params: GenerationParams
    n: int = Field(description="samples x generations evaluated")
    n_samples: int
    unscored: dict[str, dict[str, int]] = Field(default_factory=dict, description="judge -> channel -> count")
    truncated: int = 0
    errors: int = 0
    error_counts: dict[str, int] = Field(
        default_factory=dict, description="distinct generation errors (after retries) -> how many items ended in each"
    )
    quoted_verdicts: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="judge -> channel -> items left unscored because the judged text held verdict-like lines",
    )
    reasoning_present: int = 0
    metrics: list[Metric] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    thinksafe_version: str | None = Field(None, description="the thinksafe release that wrote this summary")
    created: str | None = Field(None, description="when the summary was made, ISO-8601 UTC")
    data_files: list[dict[str, Any]] = Field(
        default_factory=list, description="the benchmark's data files: name, url, local path, pinned and actual sha256"
    )
    headline: list[str] = Field(default_factory=list, description="the benchmark's headline metric names")
    attacks: list[str] = Field(default_factory=lambda: ["none"], description="the techniques run, by label")


class SuiteRow(BaseModel):
    """One benchmark's headline metric in a suite table, for both channels."""

    benchmark: str
    judge: str
    metric: str
    group: str = Field("all", description="'all', or 'attack:<label>' for one technique's items")
    higher_is_better: bool
    answer: Metric | None = None
    reasoning: Metric | None = None


class SuiteSummary(BaseModel):
    suite: str
    model: str
    members: list[str]
    rows: list[SuiteRow] = Field(default_factory=list)
    errors: int = 0
    error_counts: dict[str, int] = Field(default_factory=dict, description="distinct errors over all members")
    params: GenerationParams | None = None
    notes: dict[str, list[str]] = Field(default_factory=dict, description="member -> its run notes")
    counts: dict[str, dict[str, int]] = Field(
        default_factory=dict, description="member -> n, n_samples, errors, truncated"
    )
