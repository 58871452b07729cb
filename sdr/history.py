"""Reading a conversation's messages for display (sandbox page, admin views)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.agent.context import KIND_LABELS, HistoryItem

_TRANSCRIPT = text("""
SELECT m.id, m.direction, m.author, m.kind, m.text, m.status, m.created_at,
       m.media_status, m.media_text, m.media_error, m.media->>'filename' AS filename
FROM leads l
JOIN conversations c ON c.lead_id = l.id
JOIN chips ch ON ch.id = c.chip_id AND ch.provider = :provider
JOIN messages m ON m.conversation_id = c.id
WHERE l.address = :address AND m.id > :after AND m.status NOT IN ('echo', 'orphaned', 'cancelled')
  AND (m.direction = 'in' OR m.author = 'human' OR m.status IN ('sent', 'delivered', 'read', 'failed'))
ORDER BY m.id LIMIT :limit
""")


def transcript(
    session: Session, provider: str, address: str, after_id: int = 0, limit: int = 200
) -> list[dict[str, Any]]:
    rows = session.execute(_TRANSCRIPT, {"provider": provider, "address": address, "after": after_id,
                                         "limit": limit})
    return [{"id": r.id, "direction": r.direction, "author": r.author, "kind": r.kind, "text": r.text,
             "status": r.status, "at": r.created_at.isoformat(), "media_status": r.media_status,
             "media_text": r.media_text, "shown": _shown(r)} for r in rows]


def _shown(r: Any) -> str:
    """The message as the bot reads it: `[áudio] <transcript>`, `[documento x.pdf] <text>`, or why not."""
    if r.media_status == "pending":
        return f"{KIND_LABELS.get(r.kind, r.kind)} (processando…) {r.text or ''}".strip()
    item = HistoryItem(id=r.id, author=r.author, kind=r.kind, text=r.text, pending=False,
                       media_status=r.media_status, media_text=r.media_text, media_error=r.media_error,
                       filename=r.filename)
    return item.render()
