"""Sending a turn's reply: only when allowed, each part at most once, in order, and failures never loop."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from sdr.delivery import send_step
from tests.conftest import with_settings
from tests.factories import (
    add_outbox,
    add_turn,
    conversation,
    outbox_of,
    phone,
    prepare_send,
    receive,
    rows,
    turns_of,
)

ONE_PART = "Olá! Sou a Ana, assistente virtual da Sol Forte. Qual é o valor médio da sua conta de luz?"
THREE_PARTS = "Primeira parte da resposta.\n\nSegunda parte da resposta.\n\nTerceira parte da resposta."


def ready(rt, llm, reply: str = ONE_PART, *texts: str):
    """A conversation with a turn whose reply is recorded and not yet sent; (conversation id, send payload)."""
    llm.script([{"kind": "reply", "content": reply}])
    received = receive(rt, phone(1), *(texts or ("Oi, quanto custa um sistema?",)))
    payload = prepare_send(rt, received.conversation_id)
    assert payload is not None
    return received.conversation_id, payload


class FailAfter:
    """The real Evolution channel, with the stand-in told to fail once `after` sends have gone through."""

    def __init__(self, rt, evolution, after: int, status: int):
        self.inner, self.evolution = rt.channel("evolution"), evolution
        self.after, self.status, self.calls = after, status, 0
        self.provider = self.inner.provider

    def send_text(self, chip, to_address, body):
        if self.calls == self.after:
            self.evolution.configure(fail_next=[self.status])
        self.calls += 1
        return self.inner.send_text(chip, to_address, body)


def failing_after(rt, evolution, after: int, status: int):
    rt.channels["evolution"] = FailAfter(rt, evolution, after, status)
    return rt


def state(rt, payload):
    with rt.sessions() as session:
        [turn] = [t for t in turns_of(session, payload["conversation_id"]) if t.id == payload["turn_id"]]
        parts = outbox_of(session, payload["turn_id"])
        messages = rows(session, "SELECT * FROM messages WHERE turn_id = :t ORDER BY part", t=payload["turn_id"])
        conv = conversation(session, payload["conversation_id"])
    return turn, parts, messages, conv


def test_go_sends_the_reply_and_closes_the_turn(rt, llm, evolution):
    cid, payload = ready(rt, llm)
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "done" and delivery.follow_up is None
    [sent] = evolution.sent()
    assert (sent["number"], sent["text"], sent["instance"]) == (phone(1).lstrip("+"), ONE_PART, "sdr-test")
    turn, [part], [message], conv = state(rt, payload)
    assert (turn.status, part.status, message.status) == ("done", "sent", "sent")
    assert part.provider_message_id == sent["message_id"] and part.attempts == 1
    assert conv.watermark_id == turn.upto_message_id == conv.last_inbound_id
    assert rt.redis.get(f"sdr:lock:{cid}") is None


def test_multi_part_reply_is_sent_in_order(rt, llm, evolution):
    _, payload = ready(rt, llm, THREE_PARTS)
    assert payload["parts"] == 3
    assert send_step(rt, payload, last_attempt=False).outcome == "done"
    sent = evolution.sent()
    assert [s["text"] for s in sent] == ["Primeira parte da resposta.", "Segunda parte da resposta.",
                                         "Terceira parte da resposta."]
    assert [s["seq"] for s in sent] == sorted(s["seq"] for s in sent)
    _, parts, _, _ = state(rt, payload)
    assert [p.status for p in parts] == ["sent"] * 3


def test_paused_after_the_turn_began_sends_nothing(rt, llm, evolution):
    _, payload = ready(rt, llm)
    receive(rt, phone(1), "Deixa que eu respondo, Ana", from_me=True)  # a person takes over meanwhile
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "stopped"
    assert evolution.requests("sendText") == []
    turn, [part], [message], conv = state(rt, payload)
    assert (turn.status, turn.outcome) == ("stopped", "paused")
    assert (part.status, message.status) == ("cancelled", "cancelled")
    assert conv.status == "paused"


def test_opted_out_after_the_turn_began_sends_nothing(rt, llm, evolution):
    _, payload = ready(rt, llm)
    with rt.sessions() as session:
        session.execute(text("UPDATE leads SET opted_out_at = now()"))
    assert send_step(rt, payload, last_attempt=False).outcome == "stopped"
    assert evolution.requests("sendText") == []


def test_newer_message_supersedes_the_turn(rt, llm, evolution):
    cid, payload = ready(rt, llm)
    receive(rt, phone(1), "Ah, e moro em Campinas")
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "superseded"
    assert evolution.requests("sendText") == []
    turn, [part], _, conv = state(rt, payload)
    assert turn.status == "superseded" and part.status == "cancelled"
    assert conv.watermark_id == 0  # nothing answered: the next turn answers everything
    assert delivery.follow_up is not None and delivery.follow_up.conversation_id == cid


def test_newer_message_does_not_supersede_a_turn_that_waited_too_long(rt, llm, evolution):
    _, payload = ready(rt, llm)
    limit = rt.settings.supersede_limit_seconds
    with rt.sessions() as session:
        session.execute(text("UPDATE turns SET queued_at = now() - make_interval(secs => :s) WHERE id = :t"),
                        {"s": limit + 5, "t": payload["turn_id"]})
    receive(rt, phone(1), "Ah, e moro em Campinas")
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "done"
    assert len(evolution.sent()) == 1
    turn, _, _, conv = state(rt, payload)
    assert conv.watermark_id == turn.upto_message_id < conv.last_inbound_id
    assert delivery.follow_up is not None  # the newer message gets its own turn


def test_watermark_moved_by_another_turn_means_lost(rt, llm, evolution):
    _, payload = ready(rt, llm)
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET watermark_id = last_inbound_id"))
    assert send_step(rt, payload, last_attempt=False).outcome == "abandoned"
    assert evolution.requests("sendText") == []


def test_another_turns_part_in_flight_means_lost(rt, llm, evolution):
    cid, payload = ready(rt, llm)
    with rt.sessions() as session:
        other = add_turn(session, cid, status="abandoned")
        add_outbox(session, cid, "Resposta de outro turno", status="sending", turn_id=other)
    assert send_step(rt, payload, last_attempt=False).outcome == "abandoned"
    assert evolution.requests("sendText") == []


def test_a_step_without_the_lock_sends_nothing(rt, llm, evolution):
    _, payload = ready(rt, llm)
    delivery = send_step(rt, {**payload, "token": "not-the-owner"}, last_attempt=False)
    assert delivery.outcome == "lost"
    assert evolution.requests("sendText") == []
    turn, [part], _, _ = state(rt, payload)
    assert (turn.status, part.status) == ("running", "queued")


def test_a_part_already_sent_is_not_sent_again(rt, llm, evolution):
    _, payload = ready(rt, llm, THREE_PARTS)
    first = send_step(failing_after(rt, evolution, 1, 503), payload, last_attempt=False)
    assert first.outcome == "retry" and first.retry_payload["next_part"] == 1
    # the original task is redelivered (from part 0), e.g. after a worker restart
    again = send_step(rt, payload, last_attempt=False)
    assert again.outcome == "done"
    texts = [s["text"] for s in evolution.sent()]
    assert texts == ["Primeira parte da resposta.", "Segunda parte da resposta.", "Terceira parte da resposta."]
    _, parts, _, _ = state(rt, payload)
    assert [(p.status, p.attempts) for p in parts] == [("sent", 1), ("sent", 2), ("sent", 1)]


def test_a_part_left_sending_is_never_resent(rt, llm, evolution):
    _, payload = ready(rt, llm)
    with rt.sessions() as session:  # a worker died during the provider call
        session.execute(text("UPDATE outbox SET status = 'sending', claimed_at = now() WHERE turn_id = :t"),
                        {"t": payload["turn_id"]})
    delivery = send_step(rt, payload, last_attempt=False)
    assert evolution.requests("sendText") == []
    turn, [part], _, conv = state(rt, payload)
    assert delivery.outcome == "done" and turn.status != "running"
    assert conv.watermark_id == turn.upto_message_id  # the lead may have the answer: not answered twice
    assert part.status == "unknown"  # may have reached the lead; no longer counted as in flight


def test_the_next_message_is_answered_after_a_part_of_unknown_fate(rt, llm, evolution):
    cid, payload = ready(rt, llm)
    with rt.sessions() as session:
        session.execute(text("UPDATE outbox SET status = 'sending', claimed_at = now() WHERE turn_id = :t"),
                        {"t": payload["turn_id"]})
    send_step(rt, payload, last_attempt=False)
    receive(rt, phone(1), "Oi? Não recebi nada")
    llm.script([{"kind": "reply", "content": ONE_PART}])
    assert send_step(rt, prepare_send(rt, cid), last_attempt=False).outcome == "done"
    assert [s["text"] for s in evolution.sent()] == [ONE_PART]


def test_transient_provider_error_asks_for_a_retry(rt, llm, evolution):
    _, payload = ready(rt, llm)
    evolution.configure(fail_next=[500])
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "retry"
    assert delivery.retry_payload == {**payload, "next_part": 0}
    turn, [part], [message], conv = state(rt, payload)
    assert (turn.status, part.status, message.status) == ("running", "retry", "queued")
    assert "500" in part.last_error and part.attempts == 1
    assert conv.watermark_id == 0
    assert send_step(rt, delivery.retry_payload, last_attempt=False).outcome == "done"
    assert [s["text"] for s in evolution.sent()] == [ONE_PART]


def test_rate_limit_is_retried(rt, llm, evolution):
    _, payload = ready(rt, llm)
    evolution.configure(fail_next=[429])
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "retry" and delivery.retry_payload["next_part"] == 0


def test_unreachable_provider_is_retried(rt, llm, evolution):
    _, payload = ready(rt, llm)
    closed = dataclasses.replace(rt.settings.evolution, api_url="http://127.0.0.1:1")
    delivery = send_step(with_settings(rt, evolution=closed), payload, last_attempt=False)
    assert delivery.outcome == "retry"
    _, [part], _, _ = state(rt, payload)
    assert part.status == "retry" and "unreachable" in part.last_error


def test_transient_error_on_the_last_attempt_fails_the_turn_and_moves_on(rt, llm, evolution):
    cid, payload = ready(rt, llm)
    evolution.configure(fail_next=[500])
    delivery = send_step(rt, payload, last_attempt=True)
    assert delivery.outcome == "failed" and delivery.retry_payload is None and delivery.follow_up is None
    turn, [part], [message], conv = state(rt, payload)
    assert turn.status == "failed" and "500" in turn.error
    assert (part.status, message.status) == ("failed", "failed")
    assert conv.watermark_id == conv.last_inbound_id  # no loop: the sweep will not retry this turn
    assert rt.redis.get(f"sdr:lock:{cid}") is None


def test_refused_message_fails_without_retry(rt, llm, evolution):
    _, payload = ready(rt, llm)
    evolution.configure(not_on_whatsapp=[phone(1)])
    delivery = send_step(rt, payload, last_attempt=False)
    assert delivery.outcome == "failed" and delivery.retry_payload is None
    assert evolution.sent() == [] and len(evolution.requests("sendText")) == 1
    turn, [part], [message], conv = state(rt, payload)
    assert turn.status == "failed" and "400" in turn.error
    assert (part.status, message.status) == ("failed", "failed")
    assert "400" in part.last_error
    assert conv.watermark_id == conv.last_inbound_id


def test_refusal_of_a_later_part_cancels_the_rest(rt, llm, evolution):
    _, payload = ready(rt, llm, THREE_PARTS)
    assert send_step(failing_after(rt, evolution, 1, 400), payload, last_attempt=False).outcome == "failed"
    _, parts, _, _ = state(rt, payload)
    assert [p.status for p in parts] == ["sent", "failed", "cancelled"]
    assert len(evolution.sent()) == 1


def test_read_timeout_leaves_the_part_unknown_and_never_resends_it(rt, llm, evolution):
    _, payload = ready(rt, llm)
    impatient = with_settings(rt, provider_read_timeout=0.3)
    evolution.configure(hang_next=1)
    delivery = send_step(impatient, payload, last_attempt=False)
    assert delivery.outcome == "failed" and delivery.retry_payload is None
    turn, [part], _, conv = state(rt, payload)
    assert part.status == "unknown" and turn.status == "failed"
    assert conv.watermark_id == conv.last_inbound_id
    assert send_step(impatient, payload, last_attempt=False).outcome == "lost"  # a redelivery does nothing
    assert len(evolution.requests("sendText")) == 1


def test_a_turn_whose_chip_provider_is_not_configured_fails_cleanly(rt, llm, evolution):
    _, payload = ready(rt, llm)
    without_zapi = with_settings(rt, zapi=None)  # the test environment configures Z-API
    delivery = send_step(without_zapi, {**payload, "provider": "zapi"}, last_attempt=False)
    assert delivery.outcome == "failed"
    assert evolution.requests("sendText") == []
    turn, _, _, _ = state(rt, payload)
    assert turn.status == "failed" and "zapi" in turn.error


def test_nothing_to_send_is_a_no_op(rt):
    assert send_step(rt, None, last_attempt=False).outcome == "nothing"
