"""A turn's life in Postgres: begin (and load its context), record the analysis, record the reply.

Each step is one statement. A turn answers the inbound messages after the conversation's
watermark up to `upto_message_id`; the partial unique index on running turns makes "one turn
at a time" hold in the database too, even if Redis loses the lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.agent.analysis import Analysis
from sdr.agent.context import HistoryItem, TurnContext
from sdr.agent.reply import Reply
from sdr.conversations import active_sql
from sdr.llm import Completion
from sdr.memory import CachedHistory, fill_bound, merge_history

HISTORY_LIMIT = 20
PENDING_LIMIT = 50
SUMMARY_AFTER = 30

# What the prompts may show of a conversation: what the lead wrote, what a person wrote, and what
# the bot actually sent.
VISIBLE = """((m.direction = 'in' AND m.status = 'received')
              OR (m.direction = 'out' AND (m.author = 'human' OR m.status IN ('sent', 'delivered', 'read'))))"""

# The context of a turn in one statement. `fresh` checks the cached history range (:first..:through,
# see sdr.memory) against Postgres; `recent` is then what lies beyond it, or the whole window if the
# cache is missing or stale. Inbound messages the turn does not answer yet stay out of the history.
_CONTEXT = """
SELECT t.id AS turn_id, t.status AS turn_status, t.base_watermark_id, t.upto_message_id, t.analysis,
       c.id AS conversation_id, c.lead_id, c.chip_id, c.summary, c.summary_through_id, c.state,
       l.address, l.profile_name, l.stage, l.qualification, ch.provider, ch.external_id, v.fresh,
       (SELECT coalesce(json_agg(p ORDER BY p.id), '[]') FROM (
            SELECT id, author, kind, left(text, 2000) AS text, true AS pending,
                   media_status, media_text, media_error, media->>'filename' AS filename FROM messages
            WHERE conversation_id = c.id AND direction = 'in' AND status = 'received'
              AND id > t.base_watermark_id AND id <= t.upto_message_id
            ORDER BY id LIMIT :pending_limit) p) AS pending,
       (SELECT min(id) FROM messages WHERE conversation_id = c.id AND direction = 'in' AND status = 'received'
          AND id > t.base_watermark_id) AS open_from,
       (SELECT coalesce(json_agg(h ORDER BY h.id), '[]') FROM (
            SELECT id, author, kind, left(text, 2000) AS text, false AS pending,
                   media_status, media_text, media_error, media->>'filename' AS filename FROM messages m
            WHERE m.conversation_id = c.id AND m.id > CASE WHEN v.fresh THEN :through ELSE 0 END
              AND VISIBLE AND NOT (m.direction = 'in' AND m.id > t.base_watermark_id)
            ORDER BY m.id DESC LIMIT :history_limit) h) AS recent,
       (SELECT count(*) FROM (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
            AND m.id > c.summary_through_id AND VISIBLE LIMIT :summary_after + 1) u) AS unsummarized
FROM {turn_source} JOIN conversations c ON c.id = t.conversation_id
JOIN leads l ON l.id = c.lead_id JOIN chips ch ON ch.id = c.chip_id
CROSS JOIN LATERAL (
    SELECT CAST(:through AS bigint) > 0 AND count(*) = :cached_count AND coalesce(sum(m.id), 0) = :cached_sum AS fresh
    FROM messages m WHERE m.conversation_id = c.id AND m.id BETWEEN :first AND :through AND VISIBLE
) v
""".replace("VISIBLE", VISIBLE)

# A lead's attachment still being turned into text, recent enough to wait for (sdr.media).
_MEDIA_WAITING = """SELECT 1 FROM messages pm WHERE pm.conversation_id = c.id AND pm.media_status = 'pending'
      AND pm.id > c.watermark_id AND pm.created_at > now() - make_interval(secs => :media_wait)"""

_BEGIN = text("""
WITH t AS (
    INSERT INTO turns (conversation_id, token, base_watermark_id, upto_message_id, queued_at)
    SELECT c.id, :token, c.watermark_id, c.last_inbound_id, :queued_at
    FROM conversations c JOIN leads l ON l.id = c.lead_id
    WHERE c.id = :cid AND c.last_inbound_id > c.watermark_id
      AND """ + active_sql("c") + """ AND l.opted_out_at IS NULL
      AND NOT EXISTS (""" + _MEDIA_WAITING + """)
    ON CONFLICT DO NOTHING
    RETURNING id, status, conversation_id, base_watermark_id, upto_message_id, analysis
)
""" + _CONTEXT.format(turn_source="t"))

_RESUME = text(_CONTEXT.format(turn_source="turns t") + " WHERE t.token = :token AND t.status = 'running'")

# Parts of turns closed early (the CTE `closed`): those in flight may have reached the lead and
# become 'unknown'; the rest are cancelled, with their messages.
_CLOSE_PARTS = """parts AS (
    UPDATE outbox SET status = CASE status WHEN 'sending' THEN 'unknown' ELSE 'cancelled' END
    WHERE turn_id IN (SELECT id FROM closed) AND status IN ('queued', 'retry', 'sending')
    RETURNING message_id, status
),
unsent AS (
    UPDATE messages SET status = 'cancelled' WHERE id IN (SELECT message_id FROM parts WHERE status = 'cancelled')
)"""

_RECONCILE = text("""
WITH closed AS (
    UPDATE turns SET status = 'abandoned', finished_at = now(), error = coalesce(error, 'lock lost; replaced')
    WHERE conversation_id = :cid AND status = 'running' AND token <> :token
    RETURNING id, upto_message_id
),
{close_parts},
reached AS (  -- the lead may already have (part of) an answer to these messages
    SELECT max(closed.upto_message_id) AS upto FROM closed
    WHERE EXISTS (SELECT 1 FROM outbox o WHERE o.turn_id = closed.id AND o.status IN ('sent', 'sending', 'unknown'))
)
UPDATE conversations SET watermark_id = GREATEST(watermark_id, reached.upto), updated_at = now()
FROM reached WHERE conversations.id = :cid AND reached.upto IS NOT NULL
""".format(close_parts=_CLOSE_PARTS))

_ABORT = text("""
WITH closed AS (
    UPDATE turns SET status = 'failed', error = :error, finished_at = now()
    WHERE token = :token AND status = 'running'
    RETURNING id, conversation_id, upto_message_id
),
{close_parts}
UPDATE conversations SET watermark_id = GREATEST(watermark_id, closed.upto_message_id), last_turn_at = now(),
    version = version + 1, updated_at = now()
FROM closed WHERE conversations.id = closed.conversation_id
RETURNING conversations.last_inbound_id > conversations.watermark_id AS pending
""".format(close_parts=_CLOSE_PARTS))

_PENDING = text(
    "SELECT c.last_inbound_id > c.watermark_id AND " + active_sql("c") + " AS pending, "
    "EXISTS (" + _MEDIA_WAITING + ") AS media_waiting FROM conversations c WHERE c.id = :cid"
)


@dataclass(frozen=True)
class Begun:
    context: TurnContext
    analysis: dict[str, Any] | None  # set when a redelivered step finds the analysis already made


@dataclass(frozen=True)
class AwaitingMedia:
    """The turn cannot begin yet: an attachment of its messages is still being resolved."""


def begin_turn(session: Session, conversation_id: int, token: str, queued_at: datetime | None,
               cached: CachedHistory | None = None, history_limit: int = HISTORY_LIMIT,
               summary_after: int = SUMMARY_AFTER, media_wait: float = 0.0) -> Begun | AwaitingMedia | None:
    """Open the turn owned by `token` (or pick it up again after a redelivery) and load its context,
    with the history cache `cached` checked and completed in the same statement.

    None means there is nothing to answer now (no pending message, paused, opted out). A message
    whose media is still pending and younger than `media_wait` seconds holds the turn back.
    """
    params = {"cid": conversation_id, "token": token, "queued_at": queued_at, "media_wait": media_wait,
              "history_limit": history_limit, "pending_limit": PENDING_LIMIT, "summary_after": summary_after,
              "first": cached.first if cached else 0, "through": cached.through if cached else 0,
              "cached_count": cached.count if cached else 0, "cached_sum": cached.id_sum if cached else 0}
    row = session.execute(_BEGIN, params).one_or_none()
    if row is None:
        row = session.execute(_RESUME, params).one_or_none()
    waiting = session.execute(_PENDING, params).one_or_none() if row is None else None
    if waiting is not None and waiting.media_waiting:
        return AwaitingMedia()
    if waiting is not None and waiting.pending:
        # Another turn is still marked running but its owner lost the lock: close it first.
        session.execute(_RECONCILE, params)
        row = session.execute(_BEGIN, params).one_or_none()
    if row is None:
        return None
    return Begun(_context(row, token, cached, history_limit, summary_after), row.analysis)


def abort_turn(session: Session, token: str, error: str) -> bool:
    """Close the running turn of `token` as failed; its messages count as handled so a turn that
    keeps failing cannot loop. Returns whether newer messages are waiting."""
    return bool(session.execute(_ABORT, {"token": token, "error": error[:500]}).scalar())


def _context(row: Any, token: str, cached: CachedHistory | None, history_limit: int,
             summary_after: int) -> TurnContext:
    earlier = merge_history(cached, row.fresh, [HistoryItem(**h) for h in row.recent], history_limit)
    history = tuple(earlier) + tuple(HistoryItem(**h) for h in row.pending)
    through = fill_bound(earlier, row.open_from)
    return TurnContext(
        turn_id=row.turn_id, token=token, conversation_id=row.conversation_id, lead_id=row.lead_id,
        chip_id=row.chip_id, provider=row.provider, channel_ref=row.external_id, address=row.address,
        profile_name=row.profile_name, stage=row.stage, qualification=row.qualification or {},
        summary=row.summary, state=row.state or {}, base_watermark_id=row.base_watermark_id,
        upto_message_id=row.upto_message_id, history=history, summary_through_id=row.summary_through_id,
        summary_due=row.unsummarized > summary_after,
        history_fill_through=through if (not row.fresh or cached is None or through > cached.through) else 0,
    )


_RECORD_ANALYSIS = text("""
WITH t AS (
    UPDATE turns SET analysis = CAST(:analysis AS jsonb), analysis_ms = :ms, llm_ms = llm_ms + :ms,
        prompt_tokens = prompt_tokens + :pt, completion_tokens = completion_tokens + :ct,
        cached_tokens = cached_tokens + :cached
    WHERE id = :tid AND status = 'running'
    RETURNING conversation_id
),
l AS (
    UPDATE leads SET stage = :stage, qualification = qualification || CAST(:slots AS jsonb),
        engagement_score = LEAST(1.0, GREATEST(0.0, engagement_score + :delta)),
        engagement_decayed_at = now(), updated_at = now()
    WHERE id = :lead_id AND EXISTS (SELECT 1 FROM t)
)
UPDATE conversations SET state = state || CAST(:state AS jsonb), version = version + 1, updated_at = now()
WHERE id = (SELECT conversation_id FROM t)
RETURNING id
""")


def record_analysis(session: Session, ctx: TurnContext, analysis: Analysis, completion: Completion | None) -> bool:
    """Apply the analysis to the lead and conversation in one write; False if the turn was closed."""
    slots = {s.name: {"value": s.value, "evidence": s.evidence} for s in analysis.slots}
    state = {"intent": analysis.intent, "sentiment": analysis.sentiment, "next_action": analysis.next_action,
             "objections": list(analysis.objections), "handoff_requested": analysis.handoff_requested,
             "opt_out": analysis.opt_out}
    row = session.execute(_RECORD_ANALYSIS, {
        "tid": ctx.turn_id, "lead_id": ctx.lead_id, "analysis": json.dumps(analysis.to_json()),
        "stage": analysis.stage, "slots": json.dumps(slots), "delta": analysis.engagement_delta,
        "state": json.dumps(state), **_usage(completion),
    }).one_or_none()
    return row is not None


_RECORD_REPLY = text("""
WITH t AS (
    UPDATE turns SET reply_text = coalesce(reply_text, :reply), outcome = coalesce(outcome, :outcome),
        parts = CASE WHEN reply_text IS NULL THEN :n ELSE parts END,
        -- a redelivered step keeps the first reply and its figures
        reply_ms = coalesce(reply_ms, :ms),
        llm_ms = llm_ms + CASE WHEN reply_text IS NULL THEN :ms ELSE 0 END,
        prompt_tokens = prompt_tokens + CASE WHEN reply_text IS NULL THEN :pt ELSE 0 END,
        completion_tokens = completion_tokens + CASE WHEN reply_text IS NULL THEN :ct ELSE 0 END,
        cached_tokens = cached_tokens + CASE WHEN reply_text IS NULL THEN :cached ELSE 0 END
    WHERE id = :tid AND status = 'running'
    RETURNING id, parts
),
p AS (SELECT body, ord - 1 AS part FROM unnest(CAST(:bodies AS text[])) WITH ORDINALITY AS x(body, ord)),
m AS (
    INSERT INTO messages (provider, channel_ref, lead_address, conversation_id, direction, author,
                          kind, text, status, turn_id, part)
    SELECT :provider, :channel_ref, :address, :cid, 'out', 'bot', 'text', p.body, 'queued', t.id, p.part
    FROM t, p
    ON CONFLICT (turn_id, part) WHERE turn_id IS NOT NULL DO NOTHING
    RETURNING id, part, text
),
o AS (
    INSERT INTO outbox (idempotency_key, turn_id, part, conversation_id, chip_id, message_id, to_address, body)
    SELECT 'turn:' || :tid || ':' || m.part, :tid, m.part, :cid, :chip_id, m.id, :address, m.text FROM m
    ON CONFLICT (idempotency_key) DO NOTHING
)
SELECT parts FROM t
""")


def record_reply(session: Session, ctx: TurnContext, reply: Reply) -> int | None:
    """Write the reply and its outbox rows (idempotent per (turn, part)); the turn's part count,
    or None if the turn is no longer running."""
    row = session.execute(_RECORD_REPLY, {
        "tid": ctx.turn_id, "cid": ctx.conversation_id, "chip_id": ctx.chip_id, "provider": ctx.provider,
        "channel_ref": ctx.channel_ref, "address": ctx.address, "reply": "\n\n".join(reply.parts),
        "outcome": reply.outcome, "n": len(reply.parts), "bodies": reply.parts, **_usage(reply.completion),
    }).one_or_none()
    return row.parts if row is not None else None


def _usage(completion: Completion | None) -> dict[str, int]:
    if completion is None:
        return {"ms": 0, "pt": 0, "ct": 0, "cached": 0}
    return {"ms": completion.elapsed_ms, "pt": completion.prompt_tokens,
            "ct": completion.completion_tokens, "cached": completion.cached_tokens}
