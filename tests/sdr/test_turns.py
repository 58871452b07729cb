"""A turn's life in Postgres: what it answers, what it remembers, redelivery and replacing a lost turn."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from sdr.agent.reply import Reply
from sdr.conversations import resume_conversation
from sdr.pipeline import ingest_step
from sdr.turns import begin_turn, record_reply
from tests.factories import (
    conversation,
    inbound,
    outbox_of,
    phone,
    receive,
    rows,
    run_turn,
    store,
    turns_of,
)


def begin(rt, conversation_id: int, token: str | None = None):
    with rt.sessions() as session:
        begun = begin_turn(session, conversation_id, token or uuid.uuid4().hex, None)
    return begun.context if begun else None


def test_pending_is_exactly_the_messages_after_the_watermark(rt):
    received = receive(rt, phone(1), "Oi", "Quero energia solar", "Moro em Campinas")
    ctx = begin(rt, received.conversation_id)
    assert [item.text for item in ctx.pending] == ["Oi", "Quero energia solar", "Moro em Campinas"]
    assert [item.id for item in ctx.pending] == received.message_ids
    assert ctx.earlier == []
    assert (ctx.base_watermark_id, ctx.upto_message_id) == (0, received.message_ids[-1])
    assert (ctx.address, ctx.provider, ctx.channel_ref) == (phone(1), "evolution", "sdr-test")


def test_history_has_earlier_messages_bot_replies_and_humans_but_not_echoes(rt, evolution):
    first = receive(rt, phone(1), "Oi")
    cid = first.conversation_id
    assert run_turn(rt, cid).outcome == "done"
    [bot_reply] = evolution.sent()
    receive(rt, phone(1), "Oi Maria, aqui é o João", from_me=True)  # a person takes over
    with rt.sessions() as session:
        [echo] = store(session, inbound(phone(1), bot_reply["text"], from_me=True, msg_id=bot_reply["message_id"]))
    ingest_step(rt, echo)
    with rt.sessions() as session:
        resume_conversation(session, cid)
    later = receive(rt, phone(1), "Quanto custa?", "Moro em Campinas")

    ctx = begin(rt, cid)
    assert [item.text for item in ctx.pending] == ["Quanto custa?", "Moro em Campinas"]
    earlier = [(item.author, item.text) for item in ctx.earlier]
    assert earlier == [("lead", "Oi"), ("bot", bot_reply["text"]), ("human", "Oi Maria, aqui é o João")]
    assert echo not in {item.id for item in ctx.history}
    assert ctx.base_watermark_id == first.message_ids[0] and ctx.upto_message_id == later.message_ids[-1]


def test_redelivered_begin_returns_the_same_turn(rt):
    received = receive(rt, phone(1), "Oi")
    token = uuid.uuid4().hex
    first, again = begin(rt, received.conversation_id, token), begin(rt, received.conversation_id, token)
    assert first.turn_id == again.turn_id and again.pending == first.pending
    with rt.sessions() as session:
        assert len(turns_of(session, received.conversation_id)) == 1


def test_nothing_pending_begins_nothing(rt):
    received = receive(rt, phone(1), "Oi")
    run_turn(rt, received.conversation_id)
    assert begin(rt, received.conversation_id) is None
    with rt.sessions() as session:
        assert len(turns_of(session, received.conversation_id)) == 1


def test_paused_conversation_begins_nothing(rt):
    received = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    receive(rt, phone(1), "Oi João")
    assert begin(rt, received.conversation_id) is None
    with rt.sessions() as session:
        assert turns_of(session, received.conversation_id) == []


def test_expired_pause_begins_again(rt):
    received = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    receive(rt, phone(1), "Oi João, sumiu?")
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET paused_until = now() - interval '1 minute'"))
    ctx = begin(rt, received.conversation_id)
    assert [item.text for item in ctx.pending] == ["Oi João, sumiu?"]


def test_opted_out_lead_begins_nothing(rt):
    received = receive(rt, phone(1), "Oi")
    with rt.sessions() as session:
        session.execute(text("UPDATE leads SET opted_out_at = now()"))
    assert begin(rt, received.conversation_id) is None
    with rt.sessions() as session:
        assert turns_of(session, received.conversation_id) == []


def _running_turn_with_parts(rt, conversation_id: int, parts: list[str]):
    ctx = begin(rt, conversation_id)
    with rt.sessions() as session:
        assert record_reply(session, ctx, Reply(parts, "ok", None)) == len(parts)
    return ctx


def test_a_lost_turn_that_was_sending_is_closed_and_counts_as_answered(rt):
    received = receive(rt, phone(1), "Oi", "Quanto custa?")
    cid = received.conversation_id
    old = _running_turn_with_parts(rt, cid, ["Olá! Sou a Ana.", "Qual é o valor da sua conta de luz?"])
    with rt.sessions() as session:  # its worker died during the provider call of part 0
        session.execute(text("UPDATE outbox SET status = 'sending', claimed_at = now() WHERE turn_id = :t AND part = 0"),
                        {"t": old.turn_id})
    newer = receive(rt, phone(1), "Alô?")

    ctx = begin(rt, cid)
    assert ctx is not None and ctx.turn_id != old.turn_id
    assert [item.text for item in ctx.pending] == ["Alô?"]
    with rt.sessions() as session:
        old_turn = turns_of(session, cid)[0]
        parts = outbox_of(session, old.turn_id)
        statuses = dict(rows(session, "SELECT id, status FROM messages WHERE turn_id = :t", t=old.turn_id))
        conv = conversation(session, cid)
    assert old_turn.status == "abandoned" and old_turn.finished_at is not None
    assert [p.status for p in parts] == ["unknown", "cancelled"]
    assert statuses[parts[1].message_id] == "cancelled"
    assert conv.watermark_id == received.message_ids[-1]
    assert ctx.base_watermark_id == received.message_ids[-1] and ctx.upto_message_id == newer.message_ids[-1]


def test_a_lost_turn_that_sent_nothing_leaves_its_messages_pending(rt):
    received = receive(rt, phone(1), "Oi", "Quanto custa?")
    cid = received.conversation_id
    old = _running_turn_with_parts(rt, cid, ["Olá! Sou a Ana."])
    receive(rt, phone(1), "Alô?")

    ctx = begin(rt, cid)
    assert [item.text for item in ctx.pending] == ["Oi", "Quanto custa?", "Alô?"]
    with rt.sessions() as session:
        assert [t.status for t in turns_of(session, cid)] == ["abandoned", "running"]
        assert [p.status for p in outbox_of(session, old.turn_id)] == ["cancelled"]
        assert conversation(session, cid).watermark_id == 0


def test_a_lost_turn_with_nothing_new_is_closed_and_nothing_begins_if_it_may_have_answered(rt):
    received = receive(rt, phone(1), "Oi")
    cid = received.conversation_id
    old = _running_turn_with_parts(rt, cid, ["Olá! Sou a Ana."])
    with rt.sessions() as session:
        session.execute(text("UPDATE outbox SET status = 'sent' WHERE turn_id = :t"), {"t": old.turn_id})
    assert begin(rt, cid) is None
    with rt.sessions() as session:
        assert [t.status for t in turns_of(session, cid)] == ["abandoned"]
        assert conversation(session, cid).watermark_id == received.message_ids[-1]


def test_reply_is_recorded_once_per_turn(rt):
    received = receive(rt, phone(1), "Oi")
    ctx = begin(rt, received.conversation_id)
    with rt.sessions() as session:
        assert record_reply(session, ctx, Reply(["um", "dois"], "ok", None)) == 2
    with rt.sessions() as session:  # a redelivered reply step writes nothing new
        assert record_reply(session, ctx, Reply(["outro texto"], "ok", None)) == 2
        parts = outbox_of(session, ctx.turn_id)
        [turn] = turns_of(session, received.conversation_id)
    assert [(p.part, p.body, p.status) for p in parts] == [(0, "um", "queued"), (1, "dois", "queued")]
    assert [p.idempotency_key for p in parts] == [f"turn:{ctx.turn_id}:0", f"turn:{ctx.turn_id}:1"]
    assert turn.reply_text == "um\n\ndois" and turn.parts == 2
