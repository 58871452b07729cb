"""The recovery sweep: stored-but-unrouted messages and conversations owed an answer that no turn holds."""

from __future__ import annotations

from sqlalchemy import text

from sdr.buffer import lock_key
from sdr.jobs import claim_job, sweep
from sdr.recovery import find_stalled_conversations, find_unrouted_messages
from tests.factories import conversation, inbound, phone, receive, run_turn, store

GRACE = 5.0


def age_messages(rt, seconds: float, *message_ids: int) -> None:
    with rt.sessions() as session:
        session.execute(text("UPDATE messages SET created_at = now() - make_interval(secs => :s) WHERE id = ANY(:ids)"),
                        {"s": seconds, "ids": list(message_ids)})


def age_conversations(rt, seconds: float, *conversation_ids: int) -> None:
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET last_inbound_at = now() - make_interval(secs => :s) "
                             "WHERE id = ANY(:ids)"), {"s": seconds, "ids": list(conversation_ids)})


def unrouted(rt) -> list[int]:
    with rt.sessions() as session:
        return find_unrouted_messages(session, GRACE)


def stalled(rt) -> list[int]:
    with rt.sessions() as session:
        return find_stalled_conversations(session, GRACE)


def test_unrouted_messages_older_than_the_grace_are_found(rt):
    with rt.sessions() as session:
        old, _fresh = store(session, inbound(phone(1), "perdida"), inbound(phone(2), "recente"))
    routed = receive(rt, phone(3), "roteada")
    age_messages(rt, 60, old, *routed.message_ids)
    assert unrouted(rt) == [old]


def test_orphaned_messages_are_not_routed_again(rt):
    orphan = receive(rt, phone(1), "Oi", channel_ref="unknown-chip")
    age_messages(rt, 60, *orphan.message_ids)
    assert unrouted(rt) == []


def test_a_conversation_owed_an_answer_with_no_turn_is_stalled(rt):
    owed = receive(rt, phone(1), "Oi")
    answered = receive(rt, phone(2), "Oi")
    run_turn(rt, answered.conversation_id)
    fresh = receive(rt, phone(3), "Oi")
    age_conversations(rt, 60, owed.conversation_id, answered.conversation_id)
    assert stalled(rt) == [owed.conversation_id]
    assert fresh.conversation_id not in stalled(rt)


def test_paused_and_opted_out_conversations_are_not_stalled(rt):
    paused = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    receive(rt, phone(1), "Oi João")
    opted_out = receive(rt, phone(2), "Oi")
    with rt.sessions() as session:
        session.execute(text("UPDATE leads SET opted_out_at = now() WHERE address = :a"), {"a": phone(2)})
    age_conversations(rt, 60, paused.conversation_id, opted_out.conversation_id)
    assert stalled(rt) == []


def test_an_expired_pause_is_lifted_and_its_conversation_answered(rt):
    paused = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    receive(rt, phone(1), "Oi João, ainda está aí?")
    quiet = receive(rt, phone(2), "Oi")
    receive(rt, phone(2), "Resolvido, obrigado!", from_me=True)  # nothing owed after this
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET paused_until = now() - interval '1 minute'"))
    age_conversations(rt, 60, paused.conversation_id, quiet.conversation_id)
    assert stalled(rt) == [paused.conversation_id]
    with rt.sessions() as session:
        lifted = [conversation(session, cid) for cid in (paused.conversation_id, quiet.conversation_id)]
    assert [(c.status, c.paused_until) for c in lifted] == [("bot", None), ("bot", None)]


def test_an_unexpired_pause_is_kept(rt):
    paused = receive(rt, phone(1), "Oi")
    receive(rt, phone(1), "João aqui", from_me=True)
    stalled(rt)
    with rt.sessions() as session:
        assert conversation(session, paused.conversation_id).status == "paused"


def test_the_sweep_skips_conversations_whose_turn_holds_the_lock(rt):
    free = receive(rt, phone(1), "Oi")
    busy = receive(rt, phone(2), "Oi")
    lost = receive(rt, phone(3), "Oi")
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET last_inbound_at = now() - interval '10 minutes'"))
        [orphan_id] = store(session, inbound(phone(4), "nunca roteada"))
    age_messages(rt, 60, orphan_id)
    rt.buffer.try_acquire(busy.conversation_id, "")
    rt.redis.set(lock_key(lost.conversation_id), "token-of-a-dead-worker", px=1)  # expires at once
    result = sweep(rt)
    assert sorted(result.restart) == [free.conversation_id, lost.conversation_id]
    assert result.reroute == [orphan_id]


def test_a_job_runs_once_per_claim(rt):
    assert claim_job(rt.redis, "sweep", 30) is True
    assert claim_job(rt.redis, "sweep", 30) is False
    assert claim_job(rt.redis, "decay", 30) is True
