"""Periodic work: the recovery sweep and lead-temperature decay, each guarded against overlap."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from sdr.buffer import lock_key
from sdr.recovery import find_lost_messages, find_stalled_conversations
from sdr.runtime import Runtime
from sdr.settings import media_time_limit
from sdr.temperature import decay_engagement


def claim_job(client: redis.Redis, name: str, ttl_seconds: float) -> bool:
    """True for the one caller allowed to run job `name` now; the claim expires on its own."""
    return bool(client.set(f"sdr:job:{name}", "1", nx=True, px=max(1, int(ttl_seconds * 1000))))


@dataclass(frozen=True)
class Sweep:
    reroute: list[int]  # stored messages whose ingest never ran
    restart: list[int]  # conversations owed an answer with no turn holding their lock
    resolve: list[int] = field(default_factory=list)  # attachments whose resolution task was lost

MEDIA_RETRY_WINDOW_SECONDS = 3600.0


def sweep(rt: Runtime, limit: int = 500) -> Sweep:
    grace = rt.settings.buffer_max_seconds + rt.settings.sweep_grace_seconds
    media_grace = rt.settings.visibility_timeout + media_time_limit(rt.settings)  # past any redelivery
    with rt.sessions() as session:
        lost = find_lost_messages(session, rt.settings.sweep_grace_seconds, media_grace,
                                  MEDIA_RETRY_WINDOW_SECONDS, limit)
        stalled = find_stalled_conversations(session, grace, limit)
    unrouted = lost.unrouted
    if not stalled:
        return Sweep(unrouted, [], lost.unresolved)
    pipe = rt.redis.pipeline(transaction=False)
    for conversation_id in stalled:
        pipe.exists(lock_key(conversation_id))
    locked = pipe.execute()
    return Sweep(unrouted, [cid for cid, held in zip(stalled, locked, strict=True) if not held], lost.unresolved)


def decay(rt: Runtime) -> int:
    with rt.sessions() as session:
        return decay_engagement(session, rt.playbook.engagement_half_life_hours)
