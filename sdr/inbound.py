"""The durability point of every inbound message: store once, dedupe by the provider's id.

`store_events` is the only write the webhook makes: a single INSERT ... ON CONFLICT DO NOTHING
that is at the same time the dedupe and the commit after which the provider may be told 2xx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from sdr.channels.base import InboundEvent
from sdr.media import needs_resolution
from sdr.models import Message


@dataclass(frozen=True)
class Stored:
    new_ids: list[int]
    duplicates: int
    media_ids: list[int] = field(default_factory=list)  # new messages whose attachment sdr.media resolves


def store_events(session: Session, events: Sequence[InboundEvent]) -> Stored:
    """Insert the events that are new; return their ids (in event order) and the duplicate count."""
    if not events:
        return Stored(new_ids=[], duplicates=0)
    rows = [_row(event) for event in _unique(events)]
    statement = (
        insert(Message)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
        .returning(Message.id, Message.media_status)
    )
    inserted = sorted(session.execute(statement).all())
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
        "provider_ts": event.provider_ts,
        # A lead's audio, image or document waits for sdr.media; the turn waits for it.
        "media_status": "pending" if not event.from_me and needs_resolution(event.kind, event.media, event.text)
        else None,
    }
