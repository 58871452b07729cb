"""Finding work that fell through the cracks, so nothing stored is ever left unanswered.

Two cheap queries (each one statement, bounded): inbound messages stored but never routed
(their ingest task was lost, e.g. Redis was flushed) or whose attachment was never resolved,
and conversations with unanswered inbound messages that no turn is handling. Expired human
pauses are lifted on the way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.conversations import active_sql

_UNROUTED_WHERE = """conversation_id IS NULL AND status = 'received'
    AND created_at < now() - make_interval(secs => :grace)"""

_UNROUTED = text("SELECT id FROM messages WHERE " + _UNROUTED_WHERE + " ORDER BY id LIMIT :limit")

# The same read also finds attachments whose resolution task was lost with the broker: still pending
# after the broker would have redelivered it (sdr.media), within a window so a resolution that keeps
# dying is not retried forever.
_LOST = text("""
SELECT id, """ + _UNROUTED_WHERE + """ AS unrouted, media_status = 'pending' AS unresolved FROM messages
WHERE (""" + _UNROUTED_WHERE + """)
   OR (media_status = 'pending' AND created_at < now() - make_interval(secs => :media_grace)
       AND created_at > now() - make_interval(secs => :media_window))
ORDER BY id LIMIT :limit
""")

_STALLED = text("""
WITH expired AS (
    UPDATE conversations SET status = 'bot', paused_until = NULL, version = version + 1, updated_at = now()
    WHERE status = 'paused' AND paused_until <= now()
    RETURNING id
)
SELECT c.id FROM conversations c JOIN leads l ON l.id = c.lead_id
WHERE c.last_inbound_id > c.watermark_id
  AND (""" + active_sql("c") + """ OR c.id IN (SELECT id FROM expired))
  AND l.opted_out_at IS NULL
  AND coalesce(c.last_inbound_at, c.updated_at) < now() - make_interval(secs => :grace)
ORDER BY c.last_inbound_at LIMIT :limit
""")


def find_unrouted_messages(session: Session, grace_seconds: float, limit: int = 500) -> list[int]:
    return list(session.execute(_UNROUTED, {"grace": grace_seconds, "limit": limit}).scalars())


@dataclass(frozen=True)
class Lost:
    unrouted: list[int]  # stored, never routed
    unresolved: list[int]  # attachment still pending long after its resolution should have run


def find_lost_messages(session: Session, grace_seconds: float, media_grace_seconds: float,
                       media_window_seconds: float, limit: int = 500) -> Lost:
    rows = session.execute(_LOST, {"grace": grace_seconds, "media_grace": media_grace_seconds,
                                   "media_window": media_window_seconds, "limit": limit}).all()
    return Lost([r.id for r in rows if r.unrouted], [r.id for r in rows if r.unresolved])


def find_stalled_conversations(session: Session, grace_seconds: float, limit: int = 500) -> list[int]:
    """Conversations the bot owes an answer whose last message is older than `grace_seconds`."""
    return list(session.execute(_STALLED, {"grace": grace_seconds, "limit": limit}).scalars())
