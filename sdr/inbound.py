"""The durability point of every inbound message: store once, dedupe by the provider's id.

`store_events` is the only write the webhook makes: a single INSERT ... ON CONFLICT DO NOTHING
that is at the same time the dedupe and the commit after which the provider may be told 2xx.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.channels.base import InboundEvent
from sdr.media import needs_resolution


@dataclass(frozen=True)
class Stored:
    new_ids: list[int]
    duplicates: int
    media_ids: list[int] = field(default_factory=list)  # new messages whose attachment sdr.media resolves


# The rows travel as one JSON array, so the statement text is the same for any batch size: it is
# compiled once per process instead of once per request (the webhook's hottest path).
_STORE = text("""
INSERT INTO messages (provider, provider_message_id, channel_ref, lead_address, profile_name, direction, author,
                      kind, text, media, context, provider_ts, media_status)
SELECT r.provider, r.provider_message_id, r.channel_ref, r.lead_address, r.profile_name, r.direction, r.author,
       r.kind, r.text, r.media, r.context, r.provider_ts, r.media_status
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(
    provider text, provider_message_id text, channel_ref text, lead_address text, profile_name text,
    direction text, author text, kind text, text text, media jsonb, context jsonb, provider_ts timestamptz,
    media_status text, n bigint)
ORDER BY r.n
ON CONFLICT (provider, provider_message_id) DO NOTHING
RETURNING id, media_status
""")


def store_events(session: Session, events: Sequence[InboundEvent]) -> Stored:
    """Insert the events that are new; return their ids (in event order) and the duplicate count."""
    if not events:
        return Stored(new_ids=[], duplicates=0)
    rows = [{**_row(event), "n": n} for n, event in enumerate(_unique(events))]
    inserted = sorted(session.execute(_STORE, {"rows": json.dumps(rows)}).all())
    new_ids = [row.id for row in inserted]
    media_ids = [row.id for row in inserted if row.media_status == "pending"]
    return Stored(new_ids=new_ids, duplicates=len(events) - len(new_ids), media_ids=media_ids)


def _unique(events: Sequence[InboundEvent]) -> list[InboundEvent]:
    # A batched body can carry the same message twice; one INSERT cannot conflict with itself.
    seen: dict[tuple[str, str], InboundEvent] = {}
    for event in events:
        seen.setdefault((event.provider, event.provider_message_id), event)
    return list(seen.values())


def _row(event: InboundEvent) -> dict[str, object]:
    return {
        "provider": event.provider,
        "provider_message_id": event.provider_message_id,
        "channel_ref": event.channel_ref,
        "lead_address": event.lead_address,
        "profile_name": event.profile_name,
        "direction": "out" if event.from_me else "in",
        "author": "human" if event.from_me else "lead",
        "kind": event.kind,
        "text": event.text,
        "media": event.media,
        "context": event.context,
        "provider_ts": event.provider_ts.isoformat() if event.provider_ts else None,
        # A lead's audio, image or document waits for sdr.media; the turn waits for it.
        "media_status": "pending" if not event.from_me and needs_resolution(event.kind, event.media, event.text)
        else None,
    }
