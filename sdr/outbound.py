"""Sending a turn's parts through the outbox, exactly once, in order, and only when allowed.

Before each part, one statement decides and claims: the turn must still be running, the
conversation must still be the bot's (not paused, handed off or opted out), no other turn may
be mid-send, and no newer inbound message may have arrived (then the turn is superseded and the
next one answers everything). A part in `sending` or `unknown` is never sent again: if a
worker died during the provider call the lead may already have it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.conversations import active_sql
from sdr.statuses import CAUGHT_UP_STATUS_SQL

_CLAIM = text("""
WITH t AS (
    SELECT id, upto_message_id, base_watermark_id, coalesce(queued_at, started_at) AS since
    FROM turns WHERE id = :tid AND status = 'running'
),
verdict AS (
    SELECT CASE
        WHEN NOT """ + active_sql("c") + """ OR l.opted_out_at IS NOT NULL THEN 'paused'
        WHEN c.watermark_id <> t.base_watermark_id THEN 'lost'
        WHEN EXISTS (SELECT 1 FROM outbox x WHERE x.conversation_id = c.id AND x.status = 'sending'
                     AND x.turn_id <> t.id AND x.claimed_at > now() - make_interval(secs => :in_flight)) THEN 'lost'
        WHEN c.last_inbound_id > t.upto_message_id
             AND t.since > now() - make_interval(secs => :supersede_limit) THEN 'superseded'
        ELSE 'go' END AS v,
        coalesce(c.window_expires_at > now(), false) AS window_open
    FROM t JOIN conversations c ON c.id = :cid JOIN leads l ON l.id = c.lead_id
),
claimed AS (
    UPDATE outbox SET status = 'sending', attempts = attempts + 1, claimed_at = now()
    WHERE turn_id = :tid AND part = :part AND status IN ('queued', 'retry')
      AND (SELECT v FROM verdict) = 'go'
    RETURNING id, body, to_address, chip_id
)
SELECT coalesce((SELECT v FROM verdict), 'lost') AS verdict,
       (SELECT status FROM outbox WHERE turn_id = :tid AND part = :part) AS part_status,
       claimed.id, claimed.body, claimed.to_address,
       coalesce((SELECT window_open FROM verdict), false) AS window_open,
       ch.hourly_cap, ch.daily_cap, ch.credentials_ref
FROM (SELECT 1) AS one LEFT JOIN claimed ON true LEFT JOIN chips ch ON ch.id = claimed.chip_id
""")


@dataclass(frozen=True)
class Claim:
    verdict: str  # go | paused | superseded | lost
    part_status: str | None  # the part's status before this claim
    outbox_id: int | None = None
    body: str | None = None
    to_address: str | None = None
    window_open: bool = True  # the lead wrote within 24 hours (Meta's customer-service window)
    hourly_cap: int | None = None  # the sending chip's caps and credentials reference
    daily_cap: int | None = None
    credentials_ref: str | None = None

    @property
    def claimed(self) -> bool:
        return self.outbox_id is not None


def claim_part(
    session: Session, turn_id: int, conversation_id: int, part: int, supersede_limit: float, in_flight: float
) -> Claim:
    row = session.execute(_CLAIM, {"tid": turn_id, "cid": conversation_id, "part": part,
                                   "supersede_limit": supersede_limit, "in_flight": in_flight}).one()
    return Claim(row.verdict, row.part_status, row.id, row.body, row.to_address, bool(row.window_open),
                 row.hourly_cap, row.daily_cap, row.credentials_ref)


_RETRY = text("UPDATE outbox SET status = 'retry', last_error = :error WHERE id = :oid AND status = 'sending'")


def record_retry(session: Session, outbox_id: int, error: str) -> None:
    """The provider did not take the part; it will be claimed again after a backoff."""
    session.execute(_RETRY, {"oid": outbox_id, "error": error[:500]})


_FINISH = text("""
WITH sent AS (
    UPDATE outbox SET status = 'sent', provider_message_id = :pmid, sent_at = now(), last_error = NULL
    WHERE id = :sent_oid AND status IN ('sending', 'unknown')
    RETURNING message_id
),
sent_message AS (  -- a status report may have beaten us here (sdr.statuses)
    UPDATE messages SET status = """ + CAUGHT_UP_STATUS_SQL + """
    WHERE id IN (SELECT message_id FROM sent) AND status = 'queued'
),
failed AS (
    UPDATE outbox SET status = :failed_status, last_error = :error
    WHERE id = :failed_oid AND status IN ('sending', 'retry')
    RETURNING message_id
),
failed_message AS (
    UPDATE messages SET status = 'failed' WHERE id IN (SELECT message_id FROM failed)
),
t AS (
    UPDATE turns SET status = :status, outcome = coalesce(:outcome, outcome), error = coalesce(:error, error),
        finished_at = now()
    WHERE id = :tid AND status = 'running' AND :final
    RETURNING id, conversation_id, upto_message_id
),
left_sending AS (  -- claimed by an attempt that died mid-call: the lead may have it, never resend
    UPDATE outbox SET status = 'unknown' WHERE turn_id IN (SELECT id FROM t) AND status = 'sending'
      AND id IS DISTINCT FROM :sent_oid AND id IS DISTINCT FROM :failed_oid
),
rest AS (  -- parts not yet claimed are never sent once the turn is over
    UPDATE outbox SET status = 'cancelled' WHERE turn_id IN (SELECT :tid FROM t) AND status IN ('queued', 'retry')
      AND id IS DISTINCT FROM :failed_oid
    RETURNING message_id
),
rest_messages AS (
    UPDATE messages SET status = 'cancelled' WHERE id IN (SELECT message_id FROM rest)
),
c AS (
    UPDATE conversations SET
        watermark_id = CASE WHEN :answered THEN GREATEST(watermark_id, t.upto_message_id) ELSE watermark_id END,
        last_turn_at = now(), version = version + 1, updated_at = now()
    FROM t WHERE conversations.id = t.conversation_id
    RETURNING conversations.last_inbound_id > conversations.watermark_id AS pending
)
SELECT (SELECT count(*) FROM sent) AS sent, (SELECT count(*) FROM t) AS finished,
       coalesce((SELECT pending FROM c), false) AS pending
""")


@dataclass(frozen=True)
class Finished:
    finished: bool  # this call closed the turn
    pending: bool  # inbound messages are waiting for the next turn


def finish(
    session: Session,
    turn_id: int,
    *,
    final: bool,
    status: str = "done",
    outcome: str | None = None,
    answered: bool = True,
    sent_outbox_id: int | None = None,
    provider_message_id: str | None = None,
    failed_outbox_id: int | None = None,
    failed_status: str = "failed",
    error: str | None = None,
) -> Finished:
    """Record a part's fate and, when `final`, close the turn and move the watermark — one statement.

    `answered` says whether the lead got (or may have got) an answer to the turn's messages.
    """
    row = session.execute(_FINISH, {
        "tid": turn_id, "final": final, "status": status, "outcome": outcome, "answered": answered,
        "sent_oid": sent_outbox_id, "pmid": provider_message_id or None, "failed_oid": failed_outbox_id,
        "failed_status": failed_status, "error": error[:500] if error else None,
    }).one()
    return Finished(finished=bool(row.finished), pending=bool(row.pending))
