"""Routing stored messages into leads and conversations: human takeover, echoes, orphans, late commits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from sdr.accounting import counters
from sdr.conversations import resume_conversation, route_message
from tests.factories import (
    add_outbox,
    conversation,
    inbound,
    phone,
    receive,
    rows,
    run_turn,
    store,
)


def route(rt, message_id: int):
    with rt.sessions() as session:
        return route_message(session, message_id, rt.settings.human_pause_minutes)


def stored(rt, *events) -> list[int]:
    with rt.sessions() as session:
        return store(session, *events)


def message(rt, message_id: int):
    with rt.sessions() as session:
        return rows(session, "SELECT * FROM messages WHERE id = :id", id=message_id)[0]


def test_first_message_creates_lead_and_conversation(rt):
    [mid] = stored(rt, inbound(phone(1), "Oi, quero saber de energia solar"))
    routed = route(rt, mid)
    assert routed.conversation_id is not None and routed.author == "lead"
    assert routed.active and routed.needs_turn and not routed.echo and not routed.orphaned
    with rt.sessions() as session:
        [lead] = rows(session, "SELECT * FROM leads")
        conv = conversation(session, routed.conversation_id)
    assert (lead.address, lead.profile_name, lead.phone) == (phone(1), "Maria", phone(1))
    assert (conv.lead_id, conv.status, conv.last_inbound_id, conv.watermark_id) == (lead.id, "bot", mid, 0)
    assert conv.window_expires_at > datetime.now(timezone.utc) + timedelta(hours=23)
    assert message(rt, mid).conversation_id == routed.conversation_id


def test_second_message_moves_last_inbound(rt):
    first, second = stored(rt, inbound(phone(1), "Oi"), inbound(phone(1), "Tudo bem?"))
    a, b = route(rt, first), route(rt, second)
    assert a.conversation_id == b.conversation_id
    with rt.sessions() as session:
        conv = conversation(session, b.conversation_id)
        assert len(rows(session, "SELECT id FROM leads")) == 1
    assert conv.last_inbound_id == second


def test_routing_is_one_statement(rt):
    [mid] = stored(rt, inbound(phone(1), "Oi"))
    before = counters.snapshot()
    route(rt, mid)
    assert counters.since(before).sql == 1


def test_already_routed_message_is_not_routed_again(rt):
    [mid] = stored(rt, inbound(phone(1), "Oi"))
    assert route(rt, mid) is not None
    with rt.sessions() as session:
        version = conversation(session, message(rt, mid).conversation_id).version
    assert route(rt, mid) is None
    with rt.sessions() as session:
        assert conversation(session, message(rt, mid).conversation_id).version == version


def test_unknown_message_id_routes_to_nothing(rt):
    assert route(rt, 999_999) is None


def test_human_typing_on_the_phone_pauses_the_bot(rt):
    lead_msgs = receive(rt, phone(1), "Oi", "Quanto custa?")
    [human] = stored(rt, inbound(phone(1), "Oi Maria, aqui é o João da Sol Forte", from_me=True))
    routed = route(rt, human)
    assert routed.author == "human" and not routed.echo
    assert not routed.active and not routed.needs_turn
    with rt.sessions() as session:
        conv = conversation(session, lead_msgs.conversation_id)
        now = session.execute(text("SELECT now()")).scalar()
    assert conv.status == "paused"
    expected = now + timedelta(minutes=rt.settings.human_pause_minutes)
    assert abs((conv.paused_until - expected).total_seconds()) < 5
    # the person answered everything the lead had said
    assert conv.watermark_id == conv.last_inbound_id == lead_msgs.message_ids[-1]
    assert message(rt, human).status == "received" and message(rt, human).author == "human"


def test_lead_writing_during_a_pause_is_not_answered(rt):
    received = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    again = receive(rt, phone(1), "Oi João, e o orçamento?")
    assert again.starts == [None]
    with rt.sessions() as session:
        conv = conversation(session, received.conversation_id)
    assert conv.status == "paused" and conv.last_inbound_id > conv.watermark_id


def test_provider_echo_by_id_does_not_pause(rt):
    received = receive(rt, phone(1), "Oi")
    with rt.sessions() as session:
        add_outbox(session, received.conversation_id, "Olá! Sou a Ana.", status="sent",
                   provider_message_id="3EB0ECHOECHOECHO")
    [echo] = stored(rt, inbound(phone(1), "Olá! Sou a Ana.", from_me=True, msg_id="3EB0ECHOECHOECHO"))
    routed = route(rt, echo)
    assert routed.echo and routed.author == "bot"
    with rt.sessions() as session:
        conv = conversation(session, received.conversation_id)
    assert conv.status == "bot" and conv.paused_until is None and conv.watermark_id == 0
    assert (message(rt, echo).status, message(rt, echo).author) == ("echo", "bot")


def test_echo_of_a_send_still_in_flight_does_not_pause(rt):
    received = receive(rt, phone(1), "Oi")
    with rt.sessions() as session:
        add_outbox(session, received.conversation_id, "Olá! Sou a Ana.", status="sending")
    [echo] = stored(rt, inbound(phone(1), "Olá! Sou a Ana.", from_me=True))
    routed = route(rt, echo)
    assert routed.echo
    with rt.sessions() as session:
        assert conversation(session, received.conversation_id).status == "bot"
    assert message(rt, echo).status == "echo"


def test_human_text_differing_from_the_send_in_flight_pauses(rt):
    received = receive(rt, phone(1), "Oi")
    with rt.sessions() as session:
        add_outbox(session, received.conversation_id, "Olá! Sou a Ana.", status="sending")
    [human] = stored(rt, inbound(phone(1), "Deixa comigo, Ana", from_me=True))
    assert not route(rt, human).echo
    with rt.sessions() as session:
        assert conversation(session, received.conversation_id).status == "paused"


def test_echo_of_a_real_send_is_recognised(rt, evolution):
    received = receive(rt, phone(1), "Oi, quero um orçamento")
    assert run_turn(rt, received.conversation_id).outcome == "done"
    [sent] = evolution.sent()
    [echo] = stored(rt, inbound(phone(1), sent["text"], from_me=True, msg_id=sent["message_id"]))
    assert route(rt, echo).echo
    with rt.sessions() as session:
        assert conversation(session, received.conversation_id).status == "bot"


def test_message_on_an_unknown_chip_is_orphaned(rt):
    [mid] = stored(rt, inbound(phone(1), "Oi", channel_ref="some-other-instance"))
    routed = route(rt, mid)
    assert routed.orphaned and routed.conversation_id is None and not routed.needs_turn
    assert message(rt, mid).status == "orphaned"
    with rt.sessions() as session:
        assert rows(session, "SELECT id FROM leads") == []
        assert rows(session, "SELECT id FROM conversations") == []
    assert route(rt, mid) is None


def test_late_message_is_resequenced_and_becomes_pending(rt):
    late_event, answered_event = inbound(phone(1), "mensagem atrasada"), inbound(phone(1), "Oi")
    late_id, answered_id = stored(rt, late_event, answered_event)
    routed = route(rt, answered_id)
    with rt.sessions() as session:  # a turn answered up to the newer message before the older one was routed
        session.execute(text(
            "UPDATE conversations SET watermark_id = last_inbound_id WHERE id = :cid"), {"cid": routed.conversation_id})
    before = counters.snapshot()
    late = route(rt, late_id)
    assert counters.since(before).sql == 2
    assert late.needs_turn
    with rt.sessions() as session:
        [row] = rows(session, "SELECT id, conversation_id FROM messages WHERE provider_message_id = :p",
                     p=late_event.provider_message_id)
        conv = conversation(session, routed.conversation_id)
    assert row.id > answered_id and row.conversation_id == routed.conversation_id
    assert conv.last_inbound_id == row.id and conv.watermark_id == answered_id


def test_resume_hands_the_conversation_back(rt):
    received = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    with rt.sessions() as session:
        assert resume_conversation(session, received.conversation_id).pending is False
    receive(rt, phone(1), "Oi de novo")
    with rt.sessions() as session:
        conv_before = conversation(session, received.conversation_id)
        assert conv_before.status == "bot"
        resumed = resume_conversation(session, received.conversation_id)
        conv = conversation(session, received.conversation_id)
    assert resumed.pending is True and conv.status == "bot" and conv.paused_until is None
    with rt.sessions() as session:
        assert resume_conversation(session, 999_999) is None
