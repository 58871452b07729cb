"""What a turn remembers: the recent history cached in Redis over Postgres, and the knowledge
found for the lead's question. Both reads ride on the lock renewal each step makes anyway.

The history cache of a conversation (`sdr:hist:<conversation id>`) holds its newest answered
messages up to an id `through`, with their count and id sum. Postgres stays the judge: the turn's
one context statement checks the count and sum of the visible messages in the cached range (a
message committed late, resequenced, or sent, failed or deleted after the fill changes them) and
reads only what is newer than `through`; a mismatch makes the same statement read the whole
window instead. So a stale or half-written cache costs a wider read, never a missing message,
and writers need not touch it. The refill goes on the next step's round trip.

Keys, for deletion: `sdr:hist:<conversation id>` (history) and `sdr:summarizing:<conversation id>` (a
summary in progress). Knowledge results are not per lead.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Iterable

import redis

from sdr.agent.context import HistoryItem, KnowledgeHit, TurnContext
from sdr.knowledge import find_knowledge, queue_lookup, read_lookup
from sdr.runtime import Runtime

HISTORY_TTL_SECONDS = 6 * 3600


def history_key(conversation_id: int) -> str:
    return f"sdr:hist:{conversation_id}"


def summary_claim_key(conversation_id: int) -> str:
    """Held while a summary of the conversation is being made (see sdr.summary)."""
    return f"sdr:summarizing:{conversation_id}"


@dataclass(frozen=True)
class CachedHistory:
    first: int
    through: int
    count: int
    id_sum: int
    items: tuple[HistoryItem, ...]

    @classmethod
    def of(cls, items: Iterable[HistoryItem]) -> "CachedHistory | None":
        kept = tuple(items)
        if not kept:
            return None
        ids = [item.id for item in kept]
        return cls(min(ids), max(ids), len(ids), sum(ids), kept)

    def dumps(self) -> str:
        return json.dumps({**asdict(self), "items": [asdict(i) for i in self.items]}, ensure_ascii=False)

    @classmethod
    def loads(cls, raw: str | None) -> "CachedHistory | None":
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(data["first"], data["through"], data["count"], data["id_sum"],
                       tuple(HistoryItem(**item) for item in data["items"]))
        except (ValueError, KeyError, TypeError):
            return None  # an unreadable entry is a miss


def recall_history(rt: Runtime, conversation_id: int, token: str) -> tuple[bool, CachedHistory | None]:
    """Renew the turn's lock and read the history cache in one round trip: (still owned, cache)."""
    pipe = rt.redis.pipeline(transaction=False)
    rt.buffer.queue_extend(pipe, conversation_id, token)
    pipe.get(history_key(conversation_id))
    owned, raw = pipe.execute()
    return bool(owned), CachedHistory.loads(raw)


def merge_history(
    cached: CachedHistory | None, fresh: bool, recent: list[HistoryItem], limit: int
) -> list[HistoryItem]:
    """The newest `limit` earlier messages: the verified cache plus what Postgres read beyond it."""
    by_id = {item.id: item for item in (cached.items if cached is not None and fresh else ())}
    by_id.update((item.id, item) for item in recent)
    return [by_id[i] for i in sorted(by_id)][-limit:]


def fill_bound(earlier: list[HistoryItem], open_from: int | None) -> int:
    """The highest id the cache may cover: every visible message up to it must be in `earlier`, so
    it stops below the first inbound message not yet answered."""
    ids = [item.id for item in earlier if open_from is None or item.id < open_from]
    return max(ids, default=0)


def recall_knowledge(rt: Runtime, ctx: TurnContext, query: str) -> TurnContext | None:
    """Renew the lock, look the query up in the knowledge cache and refill the history cache, in one
    round trip; a cache miss costs one search and one more round trip to store it. None: lock lost."""
    limit = rt.settings.knowledge_hits
    pipe = rt.redis.pipeline(transaction=False)
    rt.buffer.queue_extend(pipe, ctx.conversation_id, ctx.token)
    if limit:
        queue_lookup(pipe, query, limit)
    fill = CachedHistory.of(i for i in ctx.earlier if i.id <= ctx.history_fill_through)
    if ctx.history_fill_through and fill is not None:
        pipe.set(history_key(ctx.conversation_id), fill.dumps(), ex=HISTORY_TTL_SECONDS)
    replies = pipe.execute()
    if not replies[0]:
        return None
    if not limit:
        return ctx
    store = rt.redis.pipeline(transaction=False)
    hits = find_knowledge(rt.sessions, rt.redis, read_lookup(query, limit, replies[1]), store)
    if len(store):
        store.execute()
    return replace(ctx, knowledge=tuple(KnowledgeHit(h.title, h.body) for h in hits))


def knowledge_query(ctx: TurnContext, analysis_query: str) -> str:
    """What to search for: the analysis' query, or else what the lead just wrote."""
    return analysis_query.strip() or " ".join(item.render() for item in ctx.pending)[:500]


def forget_conversation_cache(client: redis.Redis, conversation_id: int) -> None:
    """Drop everything cached about a conversation (privacy deletion). One round trip."""
    client.delete(history_key(conversation_id), summary_claim_key(conversation_id))


def forget_lead_cache(client: redis.Redis, conversation_ids: Iterable[int]) -> None:
    """Drop the caches of all of a lead's conversations in one round trip."""
    keys = [key for cid in conversation_ids for key in (history_key(cid), summary_claim_key(cid))]
    if keys:
        client.delete(*keys)
