"""What the benchmark sends: Evolution API v2 ``messages.upsert`` webhook bodies and their schedules.

Every phase uses its own block of phone numbers (``+55 11 9 PP NNNNNN``, PP = phase), so leads never
mix across phases and a phase's leads can be selected by prefix. Lead texts are ordinary Portuguese
sales-chat openers, varied so the model stand-in's answers vary too.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

INSTANCE = "sdr-bench"  # the chip the fleet registers from EVOLUTION_INSTANCE
UNREGISTERED = "bench-not-a-chip"  # stored and routed as orphaned: the web path without a turn
TEXTS = (
    "Oi! Quanto custa um sistema de energia solar?",
    "Boa tarde, vi o anúncio de vocês no Instagram",
    "Minha conta de luz vem uns 450 reais por mês",
    "Moro em Campinas, vocês atendem aqui?",
    "Queria um orçamento pra minha casa",
    "É telhado de cerâmica, dá pra instalar?",
    "Vocês parcelam? Em quantas vezes?",
    "Tenho uma padaria, a conta passa de 2 mil",
    "Quanto tempo demora a instalação?",
    "Olá, gostaria de saber mais sobre as placas",
    "Meu vizinho instalou e gostou, quero ver o meu",
    "Qual a garantia dos painéis?",
)


def phone(phase: int, n: int) -> str:
    """A Brazilian mobile number, E.164, distinct per (phase, n) with 10 <= phase <= 99."""
    return f"+55119{phase:02d}{n:06d}"


def phase_prefix(phase: int) -> str:
    return f"+55119{phase:02d}"


def upsert(phone_e164: str, text: str, instance: str = INSTANCE) -> dict[str, Any]:
    """An Evolution API v2 `messages.upsert` body for a text message from a lead."""
    data = {
        "key": {"remoteJid": phone_e164.lstrip("+") + "@s.whatsapp.net", "fromMe": False,
                "id": "3EB0" + uuid.uuid4().hex.upper()},
        "pushName": "Cliente",
        "status": "DELIVERY_ACK",
        "message": {"conversation": text},
        "messageType": "conversation",
        "messageTimestamp": int(time.time()),
        "instanceId": "f86c8b02-29df-4de1-ac9d-1e8c78d7475c",
        "source": "android",
    }
    return {"event": "messages.upsert", "instance": instance, "data": data,
            "destination": "https://sdr.example/webhooks/evolution", "date_time": "2026-11-22T10:00:00.000Z",
            "sender": "5511999990000@s.whatsapp.net", "server_url": "http://evolution.example", "apikey": None}


@dataclass(frozen=True)
class Message:
    lead: int  # index of the lead within its phase
    seq: int  # 0 for a lead's first message
    phone: str
    text: str
    at: float  # seconds after the phase's start


def steady(phase: int, rate: float, seconds: float, first_lead: int = 0) -> list[Message]:
    """One message from each new lead, at a constant rate."""
    count = int(rate * seconds)
    return [Message(first_lead + i, 0, phone(phase, first_lead + i), TEXTS[i % len(TEXTS)], i / rate)
            for i in range(count)]


def chatty(phase: int, rate: float, seconds: float, burst: int, gap: float) -> list[Message]:
    """`rate` messages per second in all, from new leads who each write `burst` messages `gap`
    seconds apart (so `rate / burst` new leads per second, each answered by one turn)."""
    starts = steady(phase, rate / burst, seconds - (burst - 1) * gap)
    messages = [Message(m.lead, seq, m.phone, TEXTS[(m.lead + seq) % len(TEXTS)], m.at + seq * gap)
                for m in starts for seq in range(burst)]
    return sorted(messages, key=lambda m: m.at)


def bursts(phase: int, leads: int, spread: float, gap: float, max_burst: int = 3) -> list[Message]:
    """`leads` leads who all start writing within `spread` seconds; lead i writes 1..max_burst
    messages `gap` seconds apart."""
    messages = []
    for lead in range(leads):
        start = spread * ((lead * 7919) % leads) / leads  # a fixed scatter, the same on every run
        for seq in range(lead % max_burst + 1):
            text = TEXTS[(lead + seq) % len(TEXTS)]
            messages.append(Message(lead, seq, phone(phase, lead), text, start + seq * gap))
    return sorted(messages, key=lambda m: m.at)


def plan(messages: list[Message], host: str, port: int, secret: str, instance: str = INSTANCE,
         timeout: float = 5.0) -> dict[str, Any]:
    """A load-generator plan posting `messages` to the Evolution webhook."""
    requests = [{"at": m.at, "body": json.dumps(upsert(m.phone, m.text, instance), ensure_ascii=False)}
                for m in messages]
    return {"host": host, "port": port, "path": "/webhooks/evolution", "headers": {"X-Webhook-Secret": secret},
            "timeout": timeout, "max_connections": 1000, "requests": requests}
