"""Durable dedupe: one INSERT ... ON CONFLICT DO NOTHING stores each provider message exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sdr.accounting import counters
from sdr.db import session_scope
from sdr.inbound import store_events
from tests.factories import inbound, message_id, phone, rows


def count_messages(settings) -> int:
    with session_scope(settings) as session:
        return len(rows(session, "SELECT id FROM messages"))


def test_new_events_are_stored_with_their_fields(clean):
    event = inbound(phone(1), "Oi, quero energia solar")
    with session_scope(clean) as session:
        stored = store_events(session, [event])
        [row] = rows(session, "SELECT * FROM messages")
    assert stored.new_ids == [row.id] and stored.duplicates == 0
    assert (row.provider, row.provider_message_id, row.channel_ref) == ("evolution", event.provider_message_id,
                                                                        "sdr-test")
    assert (row.lead_address, row.text, row.direction, row.author) == (phone(1), "Oi, quero energia solar", "in",
                                                                       "lead")
    assert row.status == "received" and row.conversation_id is None


def test_from_me_is_stored_as_a_human_outgoing_message(clean):
    with session_scope(clean) as session:
        store_events(session, [inbound(phone(1), "Oi, aqui é o João", from_me=True)])
        [row] = rows(session, "SELECT direction, author FROM messages")
    assert (row.direction, row.author) == ("out", "human")


def test_same_message_twice_is_stored_once(clean):
    event = inbound(phone(1), "Oi")
    with session_scope(clean) as session:
        first = store_events(session, [event])
    with session_scope(clean) as session:
        second = store_events(session, [event])
    assert len(first.new_ids) == 1 and first.duplicates == 0
    assert second.new_ids == [] and second.duplicates == 1
    assert count_messages(clean) == 1


def test_same_message_twice_in_one_batch_is_stored_once(clean):
    event, other = inbound(phone(1), "Oi"), inbound(phone(1), "Tudo bem?")
    with session_scope(clean) as session:
        stored = store_events(session, [event, other, event])
    assert len(stored.new_ids) == 2 and stored.duplicates == 1
    assert count_messages(clean) == 2


def test_same_provider_id_on_another_provider_is_a_different_message(clean):
    shared = message_id()
    with session_scope(clean) as session:
        stored = store_events(session, [inbound(phone(1), "a", msg_id=shared),
                                        inbound(phone(1), "a", msg_id=shared, provider="sandbox",
                                                channel_ref="sandbox")])
    assert len(stored.new_ids) == 2


def test_returned_ids_are_the_new_rows_in_event_order(clean):
    old = inbound(phone(1), "antiga")
    with session_scope(clean) as session:
        store_events(session, [old])
    events = [inbound(phone(1), "um"), old, inbound(phone(2), "dois"), inbound(phone(3), "três")]
    with session_scope(clean) as session:
        stored = store_events(session, events)
        by_provider_id = dict(rows(session, "SELECT provider_message_id, id FROM messages"))
    expected = [by_provider_id[e.provider_message_id] for e in events if e is not old]
    assert stored.new_ids == expected and stored.duplicates == 1


def test_empty_batch_touches_nothing(clean):
    before = counters.snapshot()
    with session_scope(clean) as session:
        stored = store_events(session, [])
    assert (stored.new_ids, stored.duplicates) == ([], 0)
    assert counters.since(before).sql == 0


def test_a_batch_is_one_statement(clean):
    events = [inbound(phone(n), f"mensagem {n}") for n in range(20)]
    with session_scope(clean) as session:
        before = counters.snapshot()
        stored = store_events(session, events)
        used = counters.since(before)
    assert len(stored.new_ids) == 20
    assert used.sql == 1


def test_concurrent_duplicates_store_exactly_one_row(clean):
    event = inbound(phone(1), "Oi, vi o anúncio")
    workers = 16
    barrier = threading.Barrier(workers)

    def deliver(_: int) -> list[int]:
        barrier.wait()
        with session_scope(clean) as session:
            return store_events(session, [event]).new_ids

    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(deliver, range(workers)))
    winners = [ids for ids in results if ids]
    assert len(winners) == 1 and len(winners[0]) == 1
    assert count_messages(clean) == 1


def test_media_timestamp_and_profile_survive_the_batch_encoding(clean):
    from dataclasses import replace
    from datetime import datetime, timezone

    when = datetime(2026, 11, 22, 10, 30, 15, 250000, tzinfo=timezone.utc)
    media = {"mime": "audio/ogg; codecs=opus", "url": "https://example.test/a.ogg", "voice": True, "size": 4021}
    context = {"quoted_id": "ABC", "referral": {"source_url": "https://fb.me/x", "headline": "Energia solar"}}
    event = replace(inbound(phone(1), "", msg_id="WAMID.áudio"), kind="audio", text=None, media=media,
                    provider_ts=when, profile_name="João 'Zé' d\"Ávila", context=context)
    with session_scope(clean) as session:
        store_events(session, [event])
        [row] = rows(session, "SELECT * FROM messages")
    assert (row.kind, row.text, row.media, row.context, row.provider_ts) == ("audio", None, media, context, when)
    assert (row.provider_message_id, row.profile_name) == ("WAMID.áudio", "João 'Zé' d\"Ávila")


def test_a_batch_of_any_size_is_one_statement(clean):
    for size in (1, 3, 7):
        before = counters.snapshot()
        with session_scope(clean) as session:
            stored = store_events(session, [inbound(phone(size), f"msg {i}") for i in range(size)])
        assert len(stored.new_ids) == size
        assert counters.snapshot().sql - before.sql == 1
