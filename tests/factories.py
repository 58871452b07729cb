"""Factories for realistic inputs and rows: provider payloads, stored messages, read-backs."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.channels.base import InboundEvent
from sdr.inbound import store_events

_ids = itertools.count(1)


def message_id() -> str:
    return f"3EB0{next(_ids):032X}"


def phone(n: int = 0) -> str:
    """A distinct Brazilian mobile number per `n`, E.164."""
    return f"+55119{n:08d}"


def evolution_upsert(phone_e164: str, text_: str, *, msg_id: str | None = None, from_me: bool = False,
                     instance: str = "sdr-test", name: str = "Maria", **data: Any) -> dict[str, Any]:
    """An Evolution API v2 `messages.upsert` webhook body for a text message."""
    body = {
        "key": {"remoteJid": phone_e164.lstrip("+") + "@s.whatsapp.net", "fromMe": from_me,
                "id": msg_id or message_id()},
        "pushName": name,
        "status": "SERVER_ACK" if from_me else "DELIVERY_ACK",
        "message": {"conversation": text_},
        "messageType": "conversation",
        "messageTimestamp": int(time.time()),
        "instanceId": "f86c8b02-29df-4de1-ac9d-1e8c78d7475c",
        "source": "android",
        **data,
    }
    return {"event": "messages.upsert", "instance": instance, "data": body,
            "destination": "https://example.invalid/webhooks/evolution", "date_time": "2026-11-22T10:00:00.000Z",
            "sender": "5511999990000@s.whatsapp.net", "server_url": "http://evolution.invalid", "apikey": None}


def inbound(address: str, text_: str, *, provider: str = "evolution", channel_ref: str = "sdr-test",
            from_me: bool = False, msg_id: str | None = None) -> InboundEvent:
    return InboundEvent(provider=provider, channel_ref=channel_ref, provider_message_id=msg_id or message_id(),
                        lead_address=address, kind="text", text=text_, profile_name="Maria", from_me=from_me)


def store(session: Session, *events: InboundEvent) -> list[int]:
    return store_events(session, list(events)).new_ids


def rows(session: Session, sql: str, **params: Any) -> list[Any]:
    return list(session.execute(text(sql), params).all())


# -- driving the pipeline in-process --------------------------------------------------------------

CLAIM_KEY = "sdr-test-claim"


@dataclass(frozen=True)
class Received:
    conversation_id: int | None
    message_ids: list[int]
    starts: list[Any]  # what ingest_step returned per message (StartTurn or None)


def receive(rt: Any, address: str, *texts: str, from_me: bool = False, channel_ref: str = "sdr-test",
            msg_ids: list[str] | None = None) -> Received:
    """Store one inbound event per text (as the webhook does) and route each (as the ingest task does)."""
    from sdr.pipeline import ingest_step

    events = [inbound(address, t, from_me=from_me, channel_ref=channel_ref,
                      msg_id=msg_ids[i] if msg_ids else None) for i, t in enumerate(texts)]
    with rt.sessions() as session:
        ids = store(session, *events)
    starts = [ingest_step(rt, message_id) for message_id in ids]
    with rt.sessions() as session:
        conversation_id = session.execute(
            text("SELECT conversation_id FROM messages WHERE id = ANY(:ids) AND conversation_id IS NOT NULL "
                 "LIMIT 1"), {"ids": ids}).scalar()
        # a late message is resequenced while routed: read the ids back by provider id
        ids = list(session.execute(
            text("SELECT id FROM messages WHERE provider_message_id = ANY(:pids) ORDER BY id"),
            {"pids": [e.provider_message_id for e in events]}).scalars())
    return Received(conversation_id, ids, starts)


def prepare_send(rt: Any, conversation_id: int, generation: str = "") -> dict[str, Any] | None:
    """Start a turn and run analyze and reply; the payload the send step receives."""
    from sdr.pipeline import analyze_step, reply_step, start_step

    started = start_step(rt, conversation_id, generation)
    assert started is not None, "the turn could not take the conversation lock"
    payload = analyze_step(rt, conversation_id, started.token, started.queued_at, last_attempt=True)
    return reply_step(rt, payload, last_attempt=True)


def run_turn(rt: Any, conversation_id: int, generation: str = "") -> Any:
    """A whole turn in-process: start, analyze, reply, send. Returns the send step's Delivery."""
    from sdr.delivery import send_step

    return send_step(rt, prepare_send(rt, conversation_id, generation), last_attempt=True)


def conversation(session: Session, conversation_id: int) -> Any:
    return session.execute(text("SELECT * FROM conversations WHERE id = :cid"), {"cid": conversation_id}).one()


def turns_of(session: Session, conversation_id: int) -> list[Any]:
    return rows(session, "SELECT * FROM turns WHERE conversation_id = :cid ORDER BY id", cid=conversation_id)


def outbox_of(session: Session, turn_id: int) -> list[Any]:
    return rows(session, "SELECT * FROM outbox WHERE turn_id = :tid ORDER BY part", tid=turn_id)


def add_turn(session: Session, conversation_id: int, status: str = "done") -> int:
    """A turn row of the conversation (e.g. an earlier or concurrent turn)."""
    return session.execute(text(
        "INSERT INTO turns (conversation_id, token, status, base_watermark_id, upto_message_id) "
        "SELECT id, md5(random()::text), :status, watermark_id, last_inbound_id FROM conversations WHERE id = :cid "
        "RETURNING id"), {"cid": conversation_id, "status": status}).scalar_one()


def add_outbox(session: Session, conversation_id: int, body: str, *, status: str = "queued",
               turn_id: int | None = None, part: int = 0, provider_message_id: str | None = None) -> int:
    """An outbox row addressed to the conversation's lead, as a sender writes it before calling the provider."""
    return session.execute(text(
        "INSERT INTO outbox (idempotency_key, turn_id, part, conversation_id, chip_id, to_address, body, status, "
        "provider_message_id, claimed_at) "
        "SELECT md5(random()::text), :tid, :part, c.id, c.chip_id, l.address, :body, :status, :pmid, now() "
        "FROM conversations c JOIN leads l ON l.id = c.lead_id WHERE c.id = :cid RETURNING id"),
        {"cid": conversation_id, "tid": turn_id, "part": part, "body": body, "status": status,
         "pmid": provider_message_id}).scalar_one()


def flush_redis(client: Any) -> None:
    """FLUSHDB on the test's Redis database, keeping the run's claim on the database index."""
    claim = client.get(CLAIM_KEY)
    client.flushdb()
    if claim:
        client.set(CLAIM_KEY, claim, ex=3600)
