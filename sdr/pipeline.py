"""The steps of a message's way through the fleet: ingest, start, analyze, reply, send.

Each step is what one Celery task runs. Steps hand each other small JSON payloads and hold a
database session only around SQL, never across a model or provider call. Every step first
checks that its turn still owns the conversation lock; a step that finds it lost does nothing,
which is what makes redelivered and duplicated tasks harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sdr.addresses import mask
from sdr.agent.analysis import Analysis, analyze, default_analysis
from sdr.agent.context import TurnContext
from sdr.agent.reply import fallback_reply, generate_reply
from sdr.buffer import Flush
from sdr.conversations import route_message
from sdr.llm import LLMError, LLMTransientError
from sdr.memory import knowledge_query, recall_history, recall_knowledge
from sdr.runtime import Runtime
from sdr.turns import AwaitingMedia, abort_turn, begin_turn, record_analysis, record_reply

log = logging.getLogger(__name__)

MEDIA_POLL_SECONDS = 0.5  # how soon a turn held back by unresolved media tries again


@dataclass(frozen=True)
class StartTurn:
    """Ask for a turn of `conversation_id` after `flush.delay` seconds."""

    conversation_id: int
    flush: Flush
    queued_at: str | None = None  # carried over when a turn held back by media starts again


def ingest_step(rt: Runtime, message_id: int) -> StartTurn | None:
    """Route a stored message; if the bot owes an answer, note it in the buffer."""
    with rt.sessions() as session:
        routed = route_message(session, message_id, rt.settings.human_pause_minutes)
    if routed is None:
        return None
    if routed.orphaned:
        log.warning("message %s arrived on a number that is not an active chip; stored, not answered", message_id)
    if not routed.needs_turn or routed.conversation_id is None:
        return None
    return StartTurn(routed.conversation_id, rt.buffer.note_inbound(routed.conversation_id))


@dataclass(frozen=True)
class Started:
    token: str
    queued_at: str | None  # ISO time the first waiting message was noted, for the timeline


def start_step(rt: Runtime, conversation_id: int, generation: str) -> Started | None:
    """Take the conversation's lock if this flush is the one that should start a turn."""
    acquired = rt.buffer.try_acquire(conversation_id, generation)
    if acquired.outcome != "acquired":
        return None
    first = acquired.first_waiting_at
    return Started(acquired.token, first.isoformat() if first else None)


def analyze_step(
    rt: Runtime, conversation_id: int, token: str, queued_at: str | None, last_attempt: bool
) -> dict[str, Any] | StartTurn | None:
    """Open the turn and make its one analysis call. Raises LLMTransientError to ask for a retry.

    While an attachment of the turn's messages is still being resolved (sdr.media), the lock is
    given back and a StartTurn asks to try again shortly; the wait is bounded in sdr.turns.
    """
    owned, cached = recall_history(rt, conversation_id, token)
    if not owned:
        return None
    with rt.sessions() as session:
        begun = begin_turn(session, conversation_id, token, datetime.fromisoformat(queued_at) if queued_at else None,
                           cached, rt.settings.history_messages, rt.settings.summary_after_messages,
                           rt.settings.media.max_wait_seconds)
    if isinstance(begun, AwaitingMedia):
        flush = rt.buffer.release(conversation_id, token)
        return StartTurn(conversation_id, Flush(flush.generation, max(flush.delay, MEDIA_POLL_SECONDS)), queued_at)
    if begun is None:
        rt.buffer.release(conversation_id, token)
        return None
    ctx = begun.context
    if begun.analysis is not None:  # redelivered after the analysis was recorded: never twice
        return _analyzed(ctx, Analysis.from_json(begun.analysis))
    try:
        analysis, completion = analyze(rt.llm, rt.settings.analysis_model, rt.playbook, ctx)
    except LLMTransientError:
        if not last_attempt:
            raise
        analysis, completion = default_analysis(rt.playbook, ctx, "analysis call kept failing"), None
    except LLMError as exc:
        analysis, completion = default_analysis(rt.playbook, ctx, str(exc)), None
    if not analysis.valid:
        log.warning("turn %s: analysis fell back to defaults: %s", ctx.turn_id, analysis.problem)
    with rt.sessions() as session:
        recorded = record_analysis(session, ctx, analysis, completion)
    if not recorded:  # the turn was closed meanwhile
        rt.buffer.release(conversation_id, token)
        return None
    return _analyzed(ctx, analysis)


def _analyzed(ctx: TurnContext, analysis: Analysis) -> dict[str, Any]:
    return {"conversation_id": ctx.conversation_id, "token": ctx.token, "context": ctx.to_json(),
            "analysis": analysis.to_json()}


def reply_step(rt: Runtime, payload: dict[str, Any] | None, last_attempt: bool) -> dict[str, Any] | None:
    """Make the turn's one reply call with the analysis handed over, and queue its parts."""
    if payload is None:
        return None
    analysis = Analysis.from_json(payload["analysis"])
    ctx = TurnContext.from_json(payload["context"])
    ctx = recall_knowledge(rt, ctx, knowledge_query(ctx, analysis.knowledge_query))
    if ctx is None:
        return None
    try:
        reply = generate_reply(rt.llm, rt.settings.reply_model, rt.playbook, ctx, analysis, ctx.knowledge)
    except LLMTransientError:
        if not last_attempt:
            raise
        reply = fallback_reply(rt.playbook, "llm_unavailable")
    except LLMError as exc:
        log.error("turn %s: reply call failed for good: %s", ctx.turn_id, exc)
        reply = fallback_reply(rt.playbook, "llm_error")
    with rt.sessions() as session:
        parts = record_reply(session, ctx, reply)
    if parts is None:  # the turn was closed meanwhile
        rt.buffer.release(ctx.conversation_id, ctx.token)
        return None
    log.info("turn %s for %s: %d part(s), %s", ctx.turn_id, mask(ctx.address), parts, reply.outcome)
    return {"turn_id": ctx.turn_id, "conversation_id": ctx.conversation_id, "token": ctx.token,
            "provider": ctx.provider, "chip_id": ctx.chip_id, "channel_ref": ctx.channel_ref,
            "parts": parts, "next_part": 0}


def abort_step(rt: Runtime, conversation_id: int, token: str, error: str) -> StartTurn | None:
    """A step failed for good: close its turn as failed, free the conversation, and start the next
    turn if the lead wrote meanwhile."""
    log.error("turn of conversation %s failed: %s", conversation_id, error)
    with rt.sessions() as session:
        pending = abort_turn(session, token, error)
    flush = rt.buffer.release(conversation_id, token)
    return StartTurn(conversation_id, flush) if pending else None
