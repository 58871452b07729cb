"""Conversation state: routing stored messages into conversations, human pauses, resuming.

A conversation may hear from the bot when it is `bot`, or `paused` with an expired pause, and
its lead has not opted out. Every check of that rule goes through `active_sql` so the ingest path,
the turn and the sender agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session



def active_sql(alias: str) -> str:
    """SQL predicate: the conversations row `alias` may hear from the bot now."""
    return f"({alias}.status = 'bot' OR ({alias}.status = 'paused' AND {alias}.paused_until <= now()))"


_ROUTE = text(f"""
WITH m AS (
    SELECT id, provider, channel_ref, lead_address, profile_name, author, provider_message_id, text, provider_ts
    FROM messages
    WHERE id = :mid AND conversation_id IS NULL AND status = 'received'
),
chip AS (
    SELECT chips.id FROM chips JOIN m ON chips.provider = m.provider AND chips.external_id = m.channel_ref
    WHERE chips.status = 'active'
),
echo AS (
    -- a fromMe message we sent ourselves (provider echo), not a human typing
    SELECT (m.author = 'human' AND (
        EXISTS (SELECT 1 FROM outbox o WHERE o.provider_message_id = m.provider_message_id)
        OR EXISTS (SELECT 1 FROM outbox o WHERE o.status = 'sending'
                   AND o.to_address = m.lead_address AND o.body = m.text))) AS yes
    FROM m
),
lead AS (
    INSERT INTO leads AS l (address, profile_name)
    SELECT m.lead_address, m.profile_name FROM m, chip
    ON CONFLICT (address) DO UPDATE
        SET profile_name = COALESCE(EXCLUDED.profile_name, l.profile_name), updated_at = now()
    RETURNING l.id, l.opted_out_at
),
conv AS (
    INSERT INTO conversations AS c
        (lead_id, chip_id, status, paused_until, last_inbound_id, last_inbound_at, window_expires_at)
    SELECT lead.id, chip.id,
           CASE WHEN m.author = 'human' AND NOT echo.yes THEN 'paused' ELSE 'bot' END,
           CASE WHEN m.author = 'human' AND NOT echo.yes THEN now() + make_interval(secs => :pause) END,
           CASE WHEN m.author = 'lead' THEN m.id ELSE 0 END,
           CASE WHEN m.author = 'lead' THEN now() END,
           -- the 24-hour window runs from when the lead wrote (a redelivered webhook is late), never the future
           CASE WHEN m.author = 'lead' THEN LEAST(coalesce(m.provider_ts, now()), now()) + interval '24 hours' END
    FROM m, chip, lead, echo
    ON CONFLICT (lead_id, chip_id) DO UPDATE SET
        last_inbound_id = GREATEST(c.last_inbound_id, EXCLUDED.last_inbound_id),
        last_inbound_at = COALESCE(EXCLUDED.last_inbound_at, c.last_inbound_at),
        window_expires_at = GREATEST(EXCLUDED.window_expires_at, c.window_expires_at),
        status = CASE WHEN EXCLUDED.status = 'paused' AND c.status IN ('bot', 'paused')
                      THEN 'paused' ELSE c.status END,
        paused_until = CASE WHEN EXCLUDED.status = 'paused' AND c.status IN ('bot', 'paused')
                            THEN EXCLUDED.paused_until ELSE c.paused_until END,
        -- a person answering from the phone has answered everything the lead said so far
        watermark_id = CASE WHEN EXCLUDED.status = 'paused'
                            THEN GREATEST(c.watermark_id, c.last_inbound_id) ELSE c.watermark_id END,
        version = c.version + 1,
        updated_at = now()
    RETURNING c.id, c.status, c.paused_until, c.watermark_id, c.last_inbound_id
),
routed AS (
    UPDATE messages SET conversation_id = conv.id,
        status = CASE WHEN echo.yes THEN 'echo' ELSE messages.status END,
        author = CASE WHEN echo.yes THEN 'bot' ELSE messages.author END
    FROM conv, echo WHERE messages.id = :mid
    RETURNING messages.id
),
orphan AS (
    UPDATE messages SET status = 'orphaned'
    WHERE id = :mid AND conversation_id IS NULL AND status = 'received' AND NOT EXISTS (SELECT 1 FROM chip)
    RETURNING id
)
SELECT conv.id AS conversation_id, m.author, echo.yes AS echo,
       (m.author = 'lead' AND m.id < conv.last_inbound_id) AS late,
       ({active_sql('conv')} AND lead.opted_out_at IS NULL) AS active,
       (SELECT count(*) FROM orphan) > 0 AS orphaned
FROM m CROSS JOIN echo LEFT JOIN conv ON true LEFT JOIN lead ON true
""")

_RESEQUENCE = text("""
WITH n AS (
    UPDATE messages SET id = nextval(pg_get_serial_sequence('messages', 'id')) WHERE id = :mid RETURNING id
)
UPDATE conversations SET last_inbound_id = GREATEST(last_inbound_id, n.id), updated_at = now()
FROM n WHERE conversations.id = :cid
""")

_RESUME = text("""
UPDATE conversations c SET status = 'bot', paused_until = NULL, version = c.version + 1, updated_at = now()
WHERE c.id = :cid
RETURNING c.id, c.last_inbound_id > c.watermark_id AS pending
""")


@dataclass(frozen=True)
class Routed:
    conversation_id: int | None
    author: str
    active: bool  # the bot may answer this conversation now
    echo: bool  # our own send reflected back by the provider
    orphaned: bool  # no active chip matches; stored but not answered

    @property
    def needs_turn(self) -> bool:
        return self.conversation_id is not None and self.author == "lead" and self.active


def route_message(session: Session, message_id: int, pause_minutes: float) -> Routed | None:
    """Attach a stored message to its lead and conversation; None if already routed."""
    row = session.execute(_ROUTE, {"mid": message_id, "pause": pause_minutes * 60}).one_or_none()
    if row is None:
        return None
    if row.late:
        # Routed after a newer message of the same conversation: a turn may already cover ids up
        # to that newer one without having seen this message. A fresh, later id makes the next
        # turn answer it instead of the watermark passing over it.
        session.execute(_RESEQUENCE, {"mid": message_id, "cid": row.conversation_id})
    return Routed(
        conversation_id=row.conversation_id,
        author="bot" if row.echo else row.author,
        active=bool(row.active),
        echo=bool(row.echo),
        orphaned=bool(row.orphaned),
    )


@dataclass(frozen=True)
class Resumed:
    conversation_id: int
    pending: bool  # inbound messages are waiting for an answer


def resume_conversation(session: Session, conversation_id: int) -> Resumed | None:
    """Hand a paused or handed-off conversation back to the bot."""
    row = session.execute(_RESUME, {"cid": conversation_id}).one_or_none()
    return Resumed(row.id, bool(row.pending)) if row else None
