"""A multi-turn dialogue with a simulated party: the target speaks, a second model answers, in turns.

The target's messages and the party's replies are generations like any other, each through the
store, so a killed dialogue resumes where it stopped and a re-run makes no new call. A dialogue
stops early when a turn fails, comes back empty or its thinking never closes. The judged answer
is the whole transcript; the judged thinking is the target's thinking over all its turns.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from pydantic import BaseModel, Field

from thinksafe.errors import ArgumentError
from thinksafe.schema import Completion, GenerationParams, GenerationRequest, Message, Sample, SampleResult
from thinksafe.solvers.base import Solver, SolverContext
from thinksafe.store import stable_hash


class Turn(BaseModel):
    key: str
    completion: Completion


class Dialogue(BaseModel):
    """One sample played out: the target's and the party's turns, in order."""

    sample: Sample
    sample_index: int = 0
    party_system: str = Field("", description="the simulated party's system prompt")
    speaker: str = Field("Target model", description="the target's name in the transcript")
    party: str = Field("Party", description="the party's name in the transcript")
    errors_as: tuple[str, str] = Field(("target message", "party reply"), description="how errors name each side's turns")
    target: list[Turn] = Field(default_factory=list)
    replies: list[Turn] = Field(default_factory=list)
    done: bool = False

    def target_messages(self) -> list[Message]:
        messages = list(self.sample.messages)
        for said, heard in zip(self.target, self.replies):
            messages += [Message(role="assistant", content=said.completion.answer), Message(role="user", content=heard.completion.answer)]
        return messages

    def party_messages(self) -> list[Message]:
        messages = [Message(role="system", content=self.party_system)]
        for index, said in enumerate(self.target):
            messages.append(Message(role="user", content=said.completion.answer))
            if index < len(self.replies):
                messages.append(Message(role="assistant", content=self.replies[index].completion.answer))
        return messages

    def transcript(self) -> str:
        lines = []
        for index, said in enumerate(self.target):
            lines.append(f"{self.speaker}: {said.completion.answer}")
            if index < len(self.replies):
                lines.append(f"{self.party}: {self.replies[index].completion.answer}")
        return "\n\n".join(lines)

    def result(self) -> SampleResult:
        """The dialogue as one completion: the transcript is the answer, the target's thinking the reasoning."""
        keys = [t.key for t in self.target] + [t.key for t in self.replies]
        thoughts = [f"[message {i + 1}]\n{t.completion.reasoning}" for i, t in enumerate(self.target) if t.completion.reasoning]
        said, heard = self.errors_as
        error = next((f"{said} {i + 1}: {t.completion.error}" for i, t in enumerate(self.target) if t.completion.error), None)
        error = error or next((f"{heard} {i + 1}: {t.completion.error}" for i, t in enumerate(self.replies)
                               if t.completion.error), None)
        completions = [t.completion for t in self.target]
        transcript = self.transcript()
        return SampleResult(
            sample=self.sample,
            sample_index=self.sample_index,
            generation_key=stable_hash({"dialogue": keys}),
            completion=Completion(
                text=transcript,
                reasoning="\n\n".join(thoughts) if thoughts else None,
                answer=transcript,
                reasoning_truncated=any(c.reasoning_truncated for c in completions),
                finish_reason=completions[-1].finish_reason if completions else None,
                prompt_tokens=sum(c.prompt_tokens or 0 for c in completions),
                completion_tokens=sum(c.completion_tokens or 0 for c in completions),
                error=error,
            ),
        )


def stops(completion: Completion) -> bool:
    return bool(completion.error) or completion.reasoning_truncated or not completion.answer.strip()


class SimulatedDialogue(Solver):
    """`turns` more target messages after the opening one, each answered by the party model."""

    def __init__(self, *, party_role: str, party_system: Callable[[Sample], str], turns: int,
                 party_params: GenerationParams, party_spec: str | None = None, missing_party: str = "",
                 speaker: str = "Target model", party: str = "Party",
                 errors_as: tuple[str, str] = ("target message", "party reply")):
        self.party_role = party_role
        self.party_system = party_system
        self.turns = turns
        self.party_params = party_params
        self.party_spec = party_spec
        self.missing_party = missing_party or f"the dialogue needs a model in the {party_role} role: pass --{party_role}-model SPEC"
        self.speaker, self.party, self.errors_as = speaker, party, errors_as

    def party_model_spec(self, context: SolverContext) -> str:
        """The party's model: its own spec, else the judge model, else the run's first model judge."""
        spec = self.party_spec or context.role_specs.get("judge") or next(iter(context.judge_models), None)
        if not spec:
            raise ArgumentError(self.missing_party)
        return spec

    async def stream(self, context: SolverContext, samples: list[Sample]) -> AsyncIterator[tuple[int, SampleResult]]:
        target = context.model("target")
        party = context.model(self.party_role, spec=self.party_model_spec(context))
        dialogues = [Dialogue(sample=s, sample_index=k, party_system=self.party_system(s),
                              speaker=self.speaker, party=self.party, errors_as=self.errors_as)
                     for s in samples for k in range(context.params.n)]
        for _ in range(self.turns + 1):  # all dialogues in step, each turn through the store
            await self._step(dialogues, Dialogue.target_messages, target, context.params, "target")
            await self._step(dialogues, Dialogue.party_messages, party, self.party_params, "replies")
        await context.finished_with(target, party)
        for position, dialogue in enumerate(dialogues):
            yield position, dialogue.result()

    @staticmethod
    async def _step(dialogues: list[Dialogue], messages_of: Callable[[Dialogue], list[Message]], model,
                    params: GenerationParams, side: str) -> None:
        active = [d for d in dialogues if not d.done]
        requests = [GenerationRequest(key="", messages=messages_of(d), params=params, sample_index=d.sample_index)
                    for d in active]
        for d, request, completion in zip(active, requests, await model.generate_all(requests)):
            getattr(d, side).append(Turn(key=model.key(request), completion=completion))
            d.done = stops(completion)
