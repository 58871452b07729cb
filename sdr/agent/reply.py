"""The reply: one model call that receives the turn's analysis, checked and split before sending.

A reply the guardrails reject is asked for once more, told why; if the second one is rejected too
(or cannot be had), the playbook's fallback message goes out instead. Either way the outcome says
what happened ("regenerated:price", "fallback:leak") and a log line names the reason, never the text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import openai

from sdr.agent.analysis import Analysis, combined_completion
from sdr.agent.context import TurnContext, media_notice
from sdr.agent.guardrails import REASONS, ReplyFacts, Verdict, check_reply, split_parts
from sdr.agent.playbook import Playbook
from sdr.agent.prompts import Fact, chat_history, lead_data, reply_guidance, reply_prefix, sayable_text
from sdr.llm import Completion, LLMError, complete

log = logging.getLogger(__name__)

REGENERATE_NOTE = ("Sua resposta anterior foi recusada antes de chegar ao lead: {reason}. Escreva outra resposta "
                   "para a mesma mensagem, seguindo todas as regras.")


@dataclass(frozen=True)
class Reply:
    parts: list[str]
    outcome: str  # ok | trimmed | regenerated:<reason> | fallback:<reason>[+<reason>]
    completion: Completion | None


def reply_messages(
    playbook: Playbook, ctx: TurnContext, analysis: Analysis, knowledge: Sequence[Fact] = ()
) -> list[dict[str, Any]]:
    """Stable prefix; then this turn's guidance (ours); then the lead's data and words as user content."""
    data = lead_data(ctx, analysis.objections)
    new = "\n".join(item.render() for item in ctx.pending)
    guidance = reply_guidance(playbook, ctx, analysis, knowledge)
    notice = media_notice(ctx.pending)  # an attachment that could not be read is said honestly
    return [
        {"role": "system", "content": reply_prefix(playbook)},
        {"role": "system", "content": f"{guidance}\n{notice}" if notice else guidance},
        *([{"role": "user", "content": data}] if data else []),
        *chat_history(ctx.earlier),
        {"role": "user", "content": new},
    ]


def reply_facts(playbook: Playbook, ctx: TurnContext, analysis: Analysis, knowledge: Sequence[Fact]) -> ReplyFacts:
    sayable = "\n".join([sayable_text(playbook), *(f"{k.title}: {k.body}" for k in knowledge)])
    lead_text = "\n".join(item.render() for item in ctx.history if item.author == "lead")
    return ReplyFacts(prompt=reply_prefix(playbook), sayable=sayable, max_chars=playbook.max_reply_chars,
                      lead_text=lead_text, competitors=playbook.guidelines.competitors,
                      forbidden_phrases=playbook.guidelines.forbidden_phrases, asks_if_ai=analysis.asks_if_ai)


def generate_reply(
    client: openai.OpenAI, model: str, playbook: Playbook, ctx: TurnContext, analysis: Analysis,
    knowledge: Sequence[Fact] = (),
) -> Reply:
    """Make the turn's reply call (and one more if the guardrails reject it); the first call's
    transport errors propagate (LLMError)."""
    messages = reply_messages(playbook, ctx, analysis, knowledge)
    facts = reply_facts(playbook, ctx, analysis, knowledge)
    first = complete(client, model, messages)
    verdict = check_reply(first.content, facts)
    if verdict.text:
        return _accepted(playbook, verdict, verdict.outcome, first)
    log.warning("turn %s: reply rejected (%s), asking once more", ctx.turn_id, verdict.outcome)
    note = {"role": "system", "content": REGENERATE_NOTE.format(reason=REASONS[verdict.outcome])}
    try:
        second = complete(client, model, [*messages[:-1], note, messages[-1]])
    except LLMError as exc:
        log.warning("turn %s: second reply call failed (%s); sending the fallback", ctx.turn_id, exc)
        return safe_fallback(playbook, analysis, verdict.outcome, first)
    both = combined_completion(first, second)
    again = check_reply(second.content, facts)
    if again.text:
        return _accepted(playbook, again, f"regenerated:{verdict.outcome}", both)
    log.warning("turn %s: second reply rejected too (%s); sending the fallback", ctx.turn_id, again.outcome)
    reasons = verdict.outcome if again.outcome == verdict.outcome else f"{verdict.outcome}+{again.outcome}"
    return safe_fallback(playbook, analysis, reasons, both)


def _accepted(playbook: Playbook, verdict: Verdict, outcome: str, completion: Completion) -> Reply:
    return Reply(split_parts(verdict.text, playbook.max_parts), outcome, completion)


def safe_fallback(playbook: Playbook, analysis: Analysis | None, reason: str,
                  completion: Completion | None = None) -> Reply:
    """The playbook's fallback message; it owns up to being an AI when that was the question."""
    text = playbook.fallback_message
    if analysis is not None and analysis.asks_if_ai:
        who = f"{playbook.persona.name}, assistente virtual (uma inteligência artificial) da {playbook.company.name}"
        text = f"Eu sou {who}. {text}"
    return Reply(split_parts(text, 1), f"fallback:{reason}", completion)


def fallback_reply(playbook: Playbook, reason: str) -> Reply:
    """What the lead receives when no usable reply could be generated at all."""
    return safe_fallback(playbook, None, reason)
