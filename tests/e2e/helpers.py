"""Shared helpers for the end-to-end tests: reading Postgres and the stand-ins, waiting for
replies, delivering webhooks concurrently, breaking Redis, and the fleet-wide invariant checks
(I2 no duplicate delivery, I3 one turn at a time) that run after every end-to-end test.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import kombu
import redis
import requests
from sqlalchemy import text

from sdr.db import session_scope
from sdr.settings import Settings
from tests.factories import evolution_upsert
from tests.fleet import Fleet, wait_until

CLAIM_KEY = "sdr-test-claim"  # the run's claim on its Redis database index (tests/conftest.py)
REPLY_TIMEOUT = 45.0  # generous: 2 cores, other test runs may share the machine


# -- Postgres ------------------------------------------------------------------------------------

def sql(settings: Settings, query: str, **params: Any) -> list[Any]:
    """Rows of one read-only query against the test database."""
    with session_scope(settings) as session:
        return list(session.execute(text(query), params).all())


def scalar(settings: Settings, query: str, **params: Any) -> Any:
    with session_scope(settings) as session:
        return session.execute(text(query), params).scalar()


def count_messages(settings: Settings) -> int:
    return scalar(settings, "SELECT count(*) FROM messages")


def conversation_of(settings: Settings, phone: str) -> Any:
    """The lead's (single) conversation row, or None before the first message is routed."""
    found = sql(settings, "SELECT c.* FROM conversations c JOIN leads l ON l.id = c.lead_id "
                          "WHERE l.address = :address", address=phone)
    assert len(found) <= 1, f"{len(found)} conversations for one lead on one chip"
    return found[0] if found else None


def wait_conversation(settings: Settings, phone: str, status: str | None = None,
                      timeout: float = REPLY_TIMEOUT) -> Any:
    """Until the lead's conversation exists (and has `status`, if given); its row."""
    def found() -> Any:
        row = conversation_of(settings, phone)
        return row if row is not None and status in (None, row.status) else None
    return wait_until(found, timeout, 0.1, f"a {status or ''} conversation for {phone}")


def turns_of(settings: Settings, phone: str) -> list[Any]:
    return sql(settings, "SELECT t.* FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                         "JOIN leads l ON l.id = c.lead_id WHERE l.address = :address ORDER BY t.id",
               address=phone)


def wait_turn_closed(settings: Settings, phone: str, timeout: float = REPLY_TIMEOUT) -> Any:
    """Until the lead's first turn is no longer running; its row."""
    def closed() -> Any:
        turns = turns_of(settings, phone)
        return turns[0] if turns and turns[0].status != "running" else None
    return wait_until(closed, timeout, 0.2, f"the turn for {phone} to close")


def inbound_message(settings: Settings, provider_message_id: str) -> Any:
    found = sql(settings, "SELECT * FROM messages WHERE provider_message_id = :pmid", pmid=provider_message_id)
    assert len(found) == 1, f"{len(found)} stored rows for provider message {provider_message_id}"
    return found[0]


# -- the stand-ins -------------------------------------------------------------------------------

def digits(phone: str) -> str:
    return phone.lstrip("+")


def sends_to(evolution: Any, phone: str) -> list[str]:
    """Texts the Evolution stand-in delivered (201) to `phone`, in arrival order."""
    return [s["text"] for s in evolution.sent() if s["number"] == digits(phone)]


def send_requests_to(evolution: Any, phone: str) -> list[dict[str, Any]]:
    """Every sendText request for `phone`, whatever it was answered (faults included)."""
    return [r for r in evolution.requests("sendText") if r.get("number") == digits(phone)]


def wait_for_sends(evolution: Any, phone: str, count: int = 1, timeout: float = REPLY_TIMEOUT) -> list[str]:
    """Until at least `count` replies were delivered to `phone`; the delivered texts."""
    def delivered() -> list[str] | None:
        got = sends_to(evolution, phone)
        return got if len(got) >= count else None
    return wait_until(delivered, timeout, 0.2, f"{count} reply(ies) delivered to {phone}")


def analysis_requests(llm: Any, *needles: str) -> list[dict[str, Any]]:
    """Analysis calls the LLM stand-in received whose request mentions every one of `needles`."""
    return [r for r in llm.requests("analysis")
            if all(n in json.dumps(r["body"], ensure_ascii=False) for n in needles)]


def reply_requests(llm: Any, *needles: str) -> list[dict[str, Any]]:
    return [r for r in llm.requests("reply")
            if all(n in json.dumps(r["body"], ensure_ascii=False) for n in needles)]


def wait_analysis_in_flight(llm: Any, *needles: str, timeout: float = REPLY_TIMEOUT) -> None:
    """Until an analysis call mentioning `needles` has arrived and the stand-in is still answering it."""
    def in_flight() -> bool:
        return bool(analysis_requests(llm, *needles)) and llm.stats()["in_flight"] >= 1
    wait_until(in_flight, timeout, 0.05, f"an analysis call for {needles} to be in flight")


def settle(fleet: Fleet, extra: float = 2.0) -> None:
    """Wait out a quiet window and a bit more, so a late duplicate would show up before we count."""
    time.sleep(float(fleet.env["SDR_BUFFER_QUIET_SECONDS"]) + extra)


# -- webhooks ------------------------------------------------------------------------------------

def lead_says(fleet: Fleet, phone: str, text_: str, **upsert: Any) -> str:
    """Deliver one Evolution `messages.upsert` from `phone`; assert it was stored; its provider id."""
    body = evolution_upsert(phone, text_, **upsert)
    answer = fleet.evolution(body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["stored"] == 1, answer.json()
    return body["data"]["key"]["id"]


def human_types(fleet: Fleet, phone: str, text_: str) -> str:
    """A person typing on the business phone to `phone` (Evolution upsert with `key.fromMe: true`)."""
    return lead_says(fleet, phone, text_, from_me=True)


def evolution_headers(fleet: Fleet) -> dict[str, str]:
    return {"X-Webhook-Secret": fleet.env["EVOLUTION_WEBHOOK_SECRET"]}


def post_concurrently(url: str, bodies: Iterable[Any], headers: dict[str, str]) -> list[requests.Response]:
    """POST each body from its own thread, all released at the same instant."""
    bodies = list(bodies)
    barrier = threading.Barrier(len(bodies))
    answers: list[requests.Response | Exception] = [RuntimeError("not run")] * len(bodies)

    def deliver(index: int, body: Any) -> None:
        with requests.Session() as session:
            barrier.wait(10)
            try:
                answers[index] = session.post(url, json=body, headers=headers, timeout=30)
            except requests.RequestException as exc:  # reported below, with the others
                answers[index] = exc

    threads = [threading.Thread(target=deliver, args=(i, b)) for i, b in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    failures = [a for a in answers if isinstance(a, Exception)]
    assert not failures, f"{len(failures)} deliveries raised: {failures[:3]}"
    return answers  # type: ignore[return-value]


# -- Redis ---------------------------------------------------------------------------------------

def redis_client(fleet: Fleet) -> redis.Redis:
    return redis.Redis.from_url(fleet.env["REDIS_URL"])


def flush_redis(fleet: Fleet) -> None:
    """FLUSHDB the fleet's Redis database (broker queues, unacked tasks, locks, buffers), keeping
    only the test run's claim on the database index."""
    client = redis_client(fleet)
    try:
        claim = client.get(CLAIM_KEY)
        client.flushdb()
        if claim:
            client.set(CLAIM_KEY, claim, ex=3600)
    finally:
        client.close()


def unacked_tasks(fleet: Fleet) -> dict[str, str]:
    """Broker messages delivered to a worker and not yet acknowledged: task id -> task name."""
    client = redis_client(fleet)
    try:
        entries = client.hgetall("unacked")  # kombu's Redis ack emulation
    finally:
        client.close()
    tasks = {}
    for raw in entries.values():
        headers = json.loads(raw)[0]["headers"]
        tasks[headers["id"]] = headers["task"]
    return tasks


def restore_expired_unacked(fleet: Fleet, visibility_timeout: float) -> None:
    """Put unacknowledged broker messages older than `visibility_timeout` back on their queues.

    This is the broker-side redelivery every worker runs (kombu's Redis `restore_visible`), done
    now instead of at the worker's next periodic scan, which kombu runs only every
    unacked_restore_interval x unacked_restore_throttle (about 100 s).
    """
    with kombu.Connection(fleet.env["REDIS_URL"],
                          transport_options={"visibility_timeout": visibility_timeout}) as connection:
        connection.default_channel.qos.restore_visible(num=1000, interval=1)


def queue_length(fleet: Fleet, queue: str) -> int:
    client = redis_client(fleet)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


# -- fleet-wide invariants -----------------------------------------------------------------------

def assert_no_duplicate_delivery(settings: Settings, evolution: Any) -> None:
    """I2: a (number, text) delivered n > 1 times must come from n different turns, and every
    delivery is backed by an outbox row the sender marked sent (or may-have-sent)."""
    delivered = Counter((s["number"], s["text"]) for s in evolution.sent())
    for (number, body), times in delivered.items():
        turns = scalar(settings, "SELECT count(DISTINCT turn_id) FROM outbox WHERE to_address = :address "
                                 "AND body = :body AND status IN ('sent', 'unknown')",
                       address="+" + number, body=body)
        assert times <= turns, (f"I2 violated: {body!r} was delivered {times}x to {number} "
                                f"but only {turns} turn(s) sent it")


def assert_turns_never_overlap(settings: Settings) -> None:
    """I3: per conversation, each turn finished before the next one started."""
    rows = sql(settings, "SELECT id, conversation_id, status, started_at, finished_at FROM turns "
                         "ORDER BY conversation_id, started_at, id")
    previous: dict[int, Any] = {}
    for turn in rows:
        before = previous.get(turn.conversation_id)
        if before is not None:
            assert before.finished_at is not None and before.finished_at <= turn.started_at, (
                f"I3 violated: turn {turn.id} started at {turn.started_at} while turn {before.id} "
                f"({before.status}) of conversation {turn.conversation_id} ran until {before.finished_at}")
        previous[turn.conversation_id] = turn

