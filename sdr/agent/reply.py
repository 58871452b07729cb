"""The reply: one model call that receives the turn's analysis, checked and split before sending."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai

from sdr.agent.analysis import Analysis
from sdr.agent.context import TurnContext
from sdr.agent.guardrails import check_reply, split_parts
from sdr.agent.playbook import Playbook
from sdr.agent.prompts import chat_history, lead_state, reply_prefix, sayable_text
from sdr.llm import Completion, complete

ANALYSIS_FIELDS = ("stage", "intent", "sentiment", "next_action", "objections", "handoff_requested", "opt_out")


@dataclass(frozen=True)
class Reply:
    parts: list[str]
    outcome: str  # ok | trimmed | fallback:<reason>
    completion: Completion | None


def reply_messages(playbook: Playbook, ctx: TurnContext, analysis: Analysis) -> list[dict[str, Any]]:
    situation = {key: getattr(analysis, key) for key in ANALYSIS_FIELDS}
    missing = [slot.question for slot in playbook.slots if slot.name not in ctx.qualification
               and slot.name not in {s.name for s in analysis.slots}]
    guidance = (
        f"{lead_state(ctx)}\n\n"
        f"{ctx.render_knowledge()}\n\n"
        f"Análise desta vez: {json.dumps(situation, ensure_ascii=False)}\n"
        f"Próxima pergunta de qualificação, se couber: {missing[0] if missing else 'nenhuma, já qualificado'}"
    )
    new = "\n".join(item.render() for item in ctx.pending)
    return [
        {"role": "system", "content": reply_prefix(playbook)},
        {"role": "system", "content": guidance},
        *chat_history(ctx.earlier),
        {"role": "user", "content": new},
    ]


def generate_reply(
    client: openai.OpenAI, model: str, playbook: Playbook, ctx: TurnContext, analysis: Analysis
) -> Reply:
    """Make the turn's single reply call; transport errors propagate (LLMError)."""
    completion = complete(client, model, reply_messages(playbook, ctx, analysis))
    verdict = check_reply(completion.content, reply_prefix(playbook), sayable_text(playbook), playbook.max_reply_chars)
    if not verdict.text:
        return Reply(split_parts(playbook.fallback_message, 1), f"fallback:{verdict.outcome}", completion)
    return Reply(split_parts(verdict.text, playbook.max_parts), verdict.outcome, completion)


def fallback_reply(playbook: Playbook, reason: str) -> Reply:
    """What the lead receives when no usable reply could be generated at all."""
    return Reply(split_parts(playbook.fallback_message, 1), f"fallback:{reason}", None)
