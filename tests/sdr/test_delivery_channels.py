"""A turn on a Z-API or Twilio chip sends through that provider; rate limits come back as a
retry that waits longer (with jitter), permanent refusals are recorded and not retried."""

from __future__ import annotations

from sdr.delivery import send_step
from sdr.pipeline import ingest_step
from tests.conftest import TWILIO_FROM, ZAPI_INSTANCE
from tests.factories import inbound, outbox_of, phone, prepare_send, store, turns_of


def ready(rt, llm, provider: str, channel_ref: str, lead: str):
    llm.script([{"kind": "reply", "content": "Olá! Sou a Ana. Qual é o valor da sua conta de luz?"}])
    with rt.sessions() as session:
        [message_id] = store(session, inbound(lead, "Oi, quero energia solar", provider=provider,
                                               channel_ref=channel_ref))
    routed = ingest_step(rt, message_id)
    assert routed is not None
    payload = prepare_send(rt, routed.conversation_id)
    assert payload is not None and payload["provider"] == provider
    return routed.conversation_id, payload


def test_a_zapi_turn_is_sent_through_zapi(rt, llm, zapi):
    conversation_id, payload = ready(rt, llm, "zapi", ZAPI_INSTANCE, phone(11))
    assert send_step(rt, payload, last_attempt=False).outcome == "done"
    [sent] = zapi.sent()
    assert sent["phone"] == phone(11).lstrip("+")
    assert sent["message"] == "Olá! Sou a Ana. Qual é o valor da sua conta de luz?"
    with rt.sessions() as session:
        [part] = outbox_of(session, turns_of(session, conversation_id)[0].id)
    assert (part.status, part.provider_message_id) == ("sent", sent["message_id"])


def test_a_twilio_rate_limit_is_retried_later_then_sent_once(rt, llm, twilio):
    conversation_id, payload = ready(rt, llm, "twilio", TWILIO_FROM, phone(12))
    twilio.configure(fail_next=[429])
    first = send_step(rt, payload, last_attempt=False)
    assert (first.outcome, first.rate_limited) == ("retry", True)
    assert twilio.sent() == []
    second = send_step(rt, first.retry_payload, last_attempt=False)
    assert second.outcome == "done"
    [sent] = twilio.sent()
    assert sent["to"] == "whatsapp:" + phone(12)


def test_a_permanent_twilio_refusal_fails_the_turn_without_retry(rt, llm, twilio):
    conversation_id, payload = ready(rt, llm, "twilio", TWILIO_FROM, phone(13))
    twilio.configure(fail_next=[400])
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "failed" and delivery.retry_payload is None
    with rt.sessions() as session:
        [part] = outbox_of(session, turns_of(session, conversation_id)[0].id)
    assert part.status == "failed" and "21211" in part.last_error
