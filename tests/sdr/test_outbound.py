"""The outbox statements: one claim decides and claims a part; one finish records it and closes the turn."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from sdr.accounting import counters
from sdr.agent.reply import Reply
from sdr.outbound import claim_part, finish, record_retry
from sdr.turns import begin_turn, record_reply
from tests.factories import conversation, outbox_of, phone, receive, turns_of

LIMIT, IN_FLIGHT = 30.0, 20.0


def turn_with_parts(rt, *parts: str):
    received = receive(rt, phone(1), "Oi")
    with rt.sessions() as session:
        ctx = begin_turn(session, received.conversation_id, uuid.uuid4().hex, None).context
        record_reply(session, ctx, Reply(list(parts), "ok", None))
    return ctx


def claim(rt, ctx, part: int):
    with rt.sessions() as session:
        return claim_part(session, ctx.turn_id, ctx.conversation_id, part, LIMIT, IN_FLIGHT)


def test_claim_takes_a_queued_part_in_one_statement(rt):
    ctx = turn_with_parts(rt, "Olá!", "Tudo bem?")
    before = counters.snapshot()
    got = claim(rt, ctx, 1)
    assert counters.since(before).sql == 1
    assert (got.verdict, got.part_status, got.claimed) == ("go", "queued", True)
    assert (got.body, got.to_address) == ("Tudo bem?", phone(1))
    with rt.sessions() as session:
        parts = outbox_of(session, ctx.turn_id)
    assert [(p.status, p.attempts) for p in parts] == [("queued", 0), ("sending", 1)]
    assert parts[1].claimed_at is not None


def test_a_claimed_part_cannot_be_claimed_again(rt):
    ctx = turn_with_parts(rt, "Olá!")
    assert claim(rt, ctx, 0).claimed
    again = claim(rt, ctx, 0)
    assert (again.verdict, again.part_status, again.claimed) == ("go", "sending", False)


def test_a_retry_part_can_be_claimed_again(rt):
    ctx = turn_with_parts(rt, "Olá!")
    first = claim(rt, ctx, 0)
    with rt.sessions() as session:
        record_retry(session, first.outbox_id, "HTTP 503")
    again = claim(rt, ctx, 0)
    assert again.claimed and again.part_status == "retry"
    with rt.sessions() as session:
        assert outbox_of(session, ctx.turn_id)[0].attempts == 2


def test_retry_is_recorded_only_for_a_part_being_sent(rt):
    ctx = turn_with_parts(rt, "Olá!")
    with rt.sessions() as session:
        part = outbox_of(session, ctx.turn_id)[0]
        record_retry(session, part.id, "HTTP 503")
        assert outbox_of(session, ctx.turn_id)[0].status == "queued"


def test_a_closed_turn_claims_nothing(rt):
    ctx = turn_with_parts(rt, "Olá!")
    with rt.sessions() as session:
        finish(session, ctx.turn_id, final=True, status="abandoned", answered=False)
    got = claim(rt, ctx, 0)
    assert (got.verdict, got.claimed) == ("lost", False)


def test_a_handed_off_conversation_claims_nothing(rt):
    ctx = turn_with_parts(rt, "Olá!")
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET status = 'handoff'"))
    assert claim(rt, ctx, 0).verdict == "paused"


def test_a_stale_in_flight_part_of_another_turn_does_not_block(rt):
    ctx = turn_with_parts(rt, "Olá!")
    with rt.sessions() as session:
        other = session.execute(text(
            "INSERT INTO turns (conversation_id, token, status, base_watermark_id, upto_message_id) "
            "VALUES (:c, 'other', 'abandoned', 0, 0) RETURNING id"), {"c": ctx.conversation_id}).scalar_one()
        session.execute(text(
            "INSERT INTO outbox (idempotency_key, turn_id, conversation_id, chip_id, to_address, body, status, "
            "claimed_at) VALUES ('k', :t, :c, :chip, :a, 'x', 'sending', now() - make_interval(secs => :age))"),
            {"t": other, "c": ctx.conversation_id, "chip": ctx.chip_id, "a": phone(1), "age": IN_FLIGHT + 5})
    assert claim(rt, ctx, 0).verdict == "go"


def test_finish_records_a_sent_part_and_closes_the_turn_in_one_statement(rt):
    ctx = turn_with_parts(rt, "Olá!")
    got = claim(rt, ctx, 0)
    before = counters.snapshot()
    with rt.sessions() as session:
        done = finish(session, ctx.turn_id, final=True, sent_outbox_id=got.outbox_id, provider_message_id="3EB0AB")
    assert counters.since(before).sql == 1
    assert done.finished and not done.pending
    with rt.sessions() as session:
        [part] = outbox_of(session, ctx.turn_id)
        [turn] = turns_of(session, ctx.conversation_id)
        conv = conversation(session, ctx.conversation_id)
    assert (part.status, part.provider_message_id) == ("sent", "3EB0AB")
    assert turn.status == "done" and turn.finished_at is not None
    assert conv.watermark_id == ctx.upto_message_id and conv.last_turn_at is not None


def test_finish_closes_a_turn_only_once(rt):
    ctx = turn_with_parts(rt, "Olá!")
    with rt.sessions() as session:
        assert finish(session, ctx.turn_id, final=True, status="superseded", answered=False).finished
        assert not finish(session, ctx.turn_id, final=True, status="done").finished
        [turn] = turns_of(session, ctx.conversation_id)
    assert turn.status == "superseded"


def test_finish_reports_messages_waiting_for_the_next_turn(rt):
    ctx = turn_with_parts(rt, "Olá!")
    receive(rt, phone(1), "Mais uma coisa")
    with rt.sessions() as session:
        assert finish(session, ctx.turn_id, final=True).pending
