"""PAIR: parallel attacker conversations, each refining its prompt from the target's reply and a judge score."""

from __future__ import annotations

from typing import ClassVar

from thinksafe.attacks.base import AttackContext, AttackOption, register_attack
from thinksafe.attacks.iterative import (
    ATTACKER_FEEDBACK,
    ATTACKER_RETRY,
    ATTACKER_START,
    ATTACKER_SYSTEM,
    SUCCESS_OPTION,
    TEMPERATURE_OPTION,
    IterativeAttack,
    clip,
    fill,
    parse_attacker_reply,
    with_prompt,
)
from thinksafe.schema import Message, Sample, SampleResult


@register_attack
class Pair(IterativeAttack):
    name: ClassVar[str] = "pair"
    description: ClassVar[str] = ("attacker-model streams each propose a prompt, see the target's reply and a 1-10 judge "
                                  "score, and refine it; stops at success_score or after streams x iterations queries")
    source: ClassVar[str] = "Chao et al. 2023, PAIR (Prompt Automatic Iterative Refinement), arXiv 2310.08419"
    options: ClassVar[tuple[AttackOption, ...]] = (
        AttackOption(name="streams", type="int", default=3, help="parallel attacker conversations per item"),
        AttackOption(name="iterations", type="int", default=3, help="refinement rounds per stream"),
        SUCCESS_OPTION,
        TEMPERATURE_OPTION,
    )
    minimums: ClassVar[dict[str, int]] = {"streams": 1, "iterations": 1}

    async def solve(self, context: AttackContext, samples: list[Sample]) -> list[SampleResult]:
        items = self.items(context, samples)
        streams = int(self.settings["streams"])
        chats = {(i, s): [Message(role="system", content=fill(ATTACKER_SYSTEM[item.lang], goal=item.goal)),
                          Message(role="user", content=fill(ATTACKER_START[item.lang], goal=item.goal))]
                 for i, item in enumerate(items) for s in range(streams)}
        for step in range(int(self.settings["iterations"])):
            live = [(i, s) for i, item in enumerate(items) if not item.done for s in range(streams)]
            if not live:
                break
            replies = await self.ask(context, "attacker",
                                     [(items[i], chats[i, s], self.attacker_params(context, s, step)) for i, s in live])
            proposals: list[tuple[int, int, str]] = []
            for (i, s), reply in zip(live, replies):
                parsed = None if reply.error else parse_attacker_reply(reply.answer)
                if parsed is None:
                    items[i].trace.attacker_failures += 1
                    if not reply.error:  # a failed call leaves the conversation as it was
                        chats[i, s] = [*chats[i, s], Message(role="assistant", content=reply.answer),
                                       Message(role="user", content=ATTACKER_RETRY[items[i].lang])]
                    continue
                chats[i, s] = [*chats[i, s], Message(role="assistant", content=reply.answer)]
                proposals.append((i, s, parsed[1]))
            messages = [with_prompt(items[i].sample.messages, prompt) for i, _, prompt in proposals]
            answers = await self.query_target(context, [(items[i], m) for (i, _, _), m in zip(proposals, messages)])
            scores = await self.rate(context, [(items[i], c) for (i, _, _), (c, _) in zip(proposals, answers)])
            rows = {i: [None] * streams for i, _ in live}
            for (i, s, prompt), m, (completion, key), score in zip(proposals, messages, answers, scores):
                item = items[i]
                rows[i][s] = score
                item.offer(score, prompt, completion, key, m)
                feedback = fill(ATTACKER_FEEDBACK[item.lang], answer=clip(completion.answer), score=score, goal=item.goal)
                chats[i, s] = [*chats[i, s], Message(role="user", content=feedback)]
            for i, row in rows.items():
                items[i].trace.scores.append(row)
                if any(score is not None and self.success(score) for score in row):
                    items[i].trace.success = items[i].done = True
        return [self.finish(item) for item in items]
