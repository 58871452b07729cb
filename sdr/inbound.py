"""The durability point of every inbound message: store once, dedupe by the provider's id.

`store_events` is the only write the webhook makes: a single INSERT ... ON CONFLICT DO NOTHING
that is at the same time the dedupe and the commit after which the provider may be told 2xx.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from sdr.channels.base import InboundEvent
from sdr.models import Message


@dataclass(frozen=True)
class Stored:
    new_ids: list[int]
    duplicates: int


def store_events(session: Session, events: Sequence[InboundEvent]) -> Stored:
    """Insert the events that are new; return their ids (in event order) and the duplicate count."""
    if not events:
        return Stored(new_ids=[], duplicates=0)
    rows = [_row(event) for event in _unique(events)]
    statement = (
        insert(Message)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["provider", "provider_message_id"])
        .returning(Message.id)
    )
    new_ids = sorted(session.execute(statement).scalars())
    return Stored(new_ids=new_ids, duplicates=len(events) - len(new_ids))


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
        "provider_ts": event.provider_ts,
    }
