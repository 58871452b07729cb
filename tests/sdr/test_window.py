"""Meta's 24-hour window on the delivery path: opened by the lead's messages, checked before each send;
outside it the configured template goes out instead of the reply. Rate limits and refusals on Meta."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from sdr.channels.base import InboundEvent
from sdr.chips import ensure_env_chips
from sdr.delivery import send_step
from sdr.pipeline import ingest_step
from sdr.runtime import build_runtime
from sdr.settings import load_settings
from tests.factories import conversation, outbox_of, phone, prepare_send, rows, store, turns_of
from tests.meta_factories import PHONE_NUMBER_ID, meta_env, wamid

THREE_PARTS = "Primeira parte da resposta.\n\nSegunda parte da resposta.\n\nTerceira parte da resposta."


@pytest.fixture()
def mrt(clean, base_env, llm, meta):
    """A runtime with Meta configured against the stand-in and its chip registered."""
    settings = load_settings({**base_env, **meta_env(meta.url)})
    with build_runtime(settings).sessions() as session:
        ensure_env_chips(session, settings)
    return build_runtime(settings)


def lead_writes(rt, address: str, body: str, at: datetime | None = None) -> int:
    event = InboundEvent(provider="meta", channel_ref=PHONE_NUMBER_ID, provider_message_id=wamid(),
                         lead_address=address, kind="text", text=body, profile_name="Maria", provider_ts=at)
    with rt.sessions() as session:
        [message_id] = store(session, event)
    start = ingest_step(rt, message_id)
    assert start is not None
    return start.conversation_id


def expire_window(rt, conversation_id: int) -> None:
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET window_expires_at = now() - interval '1 minute' "
                             "WHERE id = :c"), {"c": conversation_id})


def test_each_lead_message_opens_the_window_from_when_it_was_written(mrt):
    two_hours_ago = datetime.now(timezone.utc) - timedelta(hours=2)
    cid = lead_writes(mrt, phone(1), "Oi", at=two_hours_ago)
    with mrt.sessions() as session:
        expires = conversation(session, cid).window_expires_at
    assert abs((expires - (two_hours_ago + timedelta(hours=24))).total_seconds()) < 1.5
    lead_writes(mrt, phone(1), "Mensagem que chegou atrasada", at=two_hours_ago - timedelta(hours=5))
    with mrt.sessions() as session:
        assert conversation(session, cid).window_expires_at == expires  # a late delivery never shrinks it
    lead_writes(mrt, phone(1), "Ainda está aí?", at=datetime.now(timezone.utc) + timedelta(hours=3))
    with mrt.sessions() as session:  # a clock ahead of ours never extends it into the future
        later = conversation(session, cid).window_expires_at
    assert later - datetime.now(timezone.utc) < timedelta(hours=24, seconds=5)


def test_inside_the_window_the_reply_goes_out_as_text(mrt, llm, meta):
    llm.script([{"kind": "reply", "content": THREE_PARTS}])
    cid = lead_writes(mrt, phone(1), "Oi, quanto custa?")
    delivery = send_step(mrt, prepare_send(mrt, cid), last_attempt=False)
    assert delivery.outcome == "done"
    assert [(s["type"], s["text"]) for s in meta.sent()] == [
        ("text", "Primeira parte da resposta."), ("text", "Segunda parte da resposta."),
        ("text", "Terceira parte da resposta.")]


def test_outside_the_window_a_proactive_message_goes_out_as_the_template_once(mrt, llm, meta):
    llm.script([{"kind": "reply", "content": THREE_PARTS}])
    cid = lead_writes(mrt, phone(1), "Oi, quanto custa?")
    payload = prepare_send(mrt, cid)
    expire_window(mrt, cid)  # e.g. a follow-up a day later
    delivery = send_step(mrt, payload, last_attempt=False)
    assert delivery.outcome == "done"
    [sent] = meta.sent()
    assert (sent["type"], sent["template"], sent["to"]) == ("template", "retomar_conversa", phone(1))
    with mrt.sessions() as session:
        parts = outbox_of(session, payload["turn_id"])
        [turn] = turns_of(session, cid)
    assert [p.status for p in parts] == ["sent", "cancelled", "cancelled"]
    assert parts[0].provider_message_id == sent["message_id"]
    assert turn.status == "done"


def test_a_window_closed_on_metas_side_falls_back_to_the_template(mrt, llm, meta):
    cid = lead_writes(mrt, phone(1), "Oi")
    payload = prepare_send(mrt, cid)
    meta.configure(window_closed=[phone(1)])
    assert send_step(mrt, payload, last_attempt=False).outcome == "done"
    assert [r["status"] for r in meta.requests("send")] == [400, 200]
    assert [s["type"] for s in meta.sent()] == ["template"]


def test_a_rate_limited_send_is_retried_later_not_failed(mrt, llm, meta):
    cid = lead_writes(mrt, phone(1), "Oi")
    payload = prepare_send(mrt, cid)
    meta.configure(meta_errors=[130429])
    delivery = send_step(mrt, payload, last_attempt=False)
    assert (delivery.outcome, delivery.rate_limited) == ("retry", True)
    with mrt.sessions() as session:
        assert [p.status for p in outbox_of(session, payload["turn_id"])] == ["retry"]
    assert send_step(mrt, delivery.retry_payload, last_attempt=False).outcome == "done"
    assert len(meta.sent()) == 1


def test_a_permanent_refusal_is_recorded_and_not_retried(mrt, llm, meta):
    cid = lead_writes(mrt, phone(1), "Oi")
    payload = prepare_send(mrt, cid)
    meta.configure(meta_errors=[131026])
    delivery = send_step(mrt, payload, last_attempt=False)
    assert delivery.outcome == "failed" and delivery.retry_payload is None
    with mrt.sessions() as session:
        [part] = outbox_of(session, payload["turn_id"])
        [turn] = turns_of(session, cid)
        [message] = rows(session, "SELECT status FROM messages WHERE turn_id = :t", t=payload["turn_id"])
    assert part.status == "failed" and "131026" in part.last_error
    assert (turn.status, message.status) == ("failed", "failed") and "131026" in turn.error
