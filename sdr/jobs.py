"""Periodic work: the recovery sweep and lead-temperature decay, each guarded against overlap."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from sdr.buffer import lock_key
from sdr.recovery import find_stalled_conversations, find_unrouted_messages
from sdr.runtime import Runtime
from sdr.temperature import decay_engagement


def claim_job(client: redis.Redis, name: str, ttl_seconds: float) -> bool:
    """True for the one caller allowed to run job `name` now; the claim expires on its own."""
    return bool(client.set(f"sdr:job:{name}", "1", nx=True, px=max(1, int(ttl_seconds * 1000))))


@dataclass(frozen=True)
class Sweep:
    reroute: list[int]  # stored messages whose ingest never ran
    restart: list[int]  # conversations owed an answer with no turn holding their lock


def sweep(rt: Runtime, limit: int = 500) -> Sweep:
    grace = rt.settings.buffer_max_seconds + rt.settings.sweep_grace_seconds
    with rt.sessions() as session:
        unrouted = find_unrouted_messages(session, rt.settings.sweep_grace_seconds, limit)
        stalled = find_stalled_conversations(session, grace, limit)
    if not stalled:
        return Sweep(unrouted, [])
    pipe = rt.redis.pipeline(transaction=False)
    for conversation_id in stalled:
        pipe.exists(lock_key(conversation_id))
    locked = pipe.execute()
    return Sweep(unrouted, [cid for cid, held in zip(stalled, locked, strict=True) if not held])


def decay(rt: Runtime) -> int:
    with rt.sessions() as session:
        return decay_engagement(session, rt.playbook.engagement_half_life_hours)
