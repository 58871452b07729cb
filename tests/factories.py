"""Factories for realistic inputs and rows: provider payloads, stored messages, read-backs."""

from __future__ import annotations

import itertools
import time
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
