"""Statement and round-trip budgets: a text-message turn (ingest to send) and periodic jobs that do not grow
with the amount of work."""

from __future__ import annotations

from sqlalchemy import text

from sdr.accounting import counters
from sdr.delivery import send_step
from sdr.jobs import decay, sweep
from sdr.pipeline import analyze_step, ingest_step, reply_step, start_step
from sdr.knowledge import store_knowledge
from sdr.knowledge_files import parse_file
from sdr.settings import REPO_ROOT
from tests.factories import flush_redis, inbound, phone, receive, run_turn, store

BUDGET_SQL, BUDGET_REDIS = 8, 8
CURRENT_SQL, CURRENT_REDIS = 7, 7  # docs/architecture.md; a change here should be deliberate
# With knowledge and memory on: a knowledge cache miss costs the search and one round trip to store it;
# the history cache is read and refilled on the lock renewals the steps make anyway.
WARM_SQL, WARM_REDIS = 6, 6
ONE_PART = "Olá! Sou a Ana, assistente virtual da Sol Forte. Qual é o valor médio da sua conta de luz?"


def measured_turn(rt, message_id):
    before = counters.snapshot()
    start = ingest_step(rt, message_id)
    started = start_step(rt, start.conversation_id, start.flush.generation)
    payload = analyze_step(rt, start.conversation_id, started.token, started.queued_at, last_attempt=False)
    payload = reply_step(rt, payload, last_attempt=False)
    delivery = send_step(rt, payload, last_attempt=False)
    used = counters.since(before)
    assert delivery.outcome == "done" and payload["parts"] == 1
    return used


def test_a_turn_with_warm_caches_costs_less(rt, llm, evolution):
    """The second question of a conversation: the history and the knowledge search come from Redis."""
    store_knowledge(rt.sessions, rt.redis, parse_file(REPO_ROOT / "playbooks" / "solar-knowledge.md"), "site")
    llm.script([{"kind": "reply", "content": ONE_PART}] * 3)
    first = receive(rt, phone(1), "Vocês fazem financiamento?")
    run_turn(rt, first.conversation_id)
    warm = receive(rt, phone(1), "Oi")  # first use of the scripts on the connections
    run_turn(rt, warm.conversation_id)
    with rt.sessions() as session:
        [message_id] = store(session, inbound(phone(1), "Vocês fazem financiamento?"))
    used = measured_turn(rt, message_id)
    assert used.sql <= BUDGET_SQL and used.redis <= BUDGET_REDIS, used
    assert (used.sql, used.redis) == (WARM_SQL, WARM_REDIS), used
    assert "Financiamento" in llm.requests("reply")[-1]["body"]["messages"][1]["content"]


def test_a_turn_with_cold_caches_in_an_ongoing_conversation_stays_within_budget(rt, llm, evolution):
    """Redis lost everything: the history is read from Postgres and refilled, the search made and stored."""
    llm.script([{"kind": "reply", "content": ONE_PART}] * 3)
    for line in ("Oi", "Moro em Campinas"):
        cid = receive(rt, phone(1), line).conversation_id
        run_turn(rt, cid)
    flush_redis(rt.redis)
    with rt.sessions() as session:
        [message_id] = store(session, inbound(phone(1), "Quanto custa a instalação?"))
    used = measured_turn(rt, message_id)
    assert (used.sql, used.redis) == (CURRENT_SQL, CURRENT_REDIS), used
    assert rt.redis.exists(f"sdr:hist:{cid}")  # refilled on the way


def test_a_text_message_turn_stays_within_budget(rt, llm, evolution):
    warm = receive(rt, phone(1), "Oi")  # first use loads Lua scripts and opens pooled connections
    llm.script([{"kind": "reply", "content": ONE_PART}] * 2)
    run_turn(rt, warm.conversation_id)
    with rt.sessions() as session:
        [message_id] = store(session, inbound(phone(2), "Oi, quanto custa um sistema solar?"))

    before = counters.snapshot()
    start = ingest_step(rt, message_id)
    started = start_step(rt, start.conversation_id, start.flush.generation)
    payload = analyze_step(rt, start.conversation_id, started.token, started.queued_at, last_attempt=False)
    payload = reply_step(rt, payload, last_attempt=False)
    delivery = send_step(rt, payload, last_attempt=False)
    used = counters.since(before)

    assert delivery.outcome == "done" and payload["parts"] == 1
    assert [s["text"] for s in evolution.sent()][-1] == ONE_PART
    assert used.sql <= BUDGET_SQL and used.redis <= BUDGET_REDIS, used
    assert (used.sql, used.redis) == (CURRENT_SQL, CURRENT_REDIS), used


def stalled_conversations(rt, count: int) -> None:
    """`count` conversations owed an answer whose last message is well past max wait + grace."""
    with rt.sessions() as session:
        ids = store(session, *(inbound(phone(n), f"Oi, sou o lead {n}") for n in range(count)))
    for message_id in ids:
        ingest_step(rt, message_id)
    with rt.sessions() as session:
        session.execute(text("UPDATE conversations SET last_inbound_at = now() - interval '10 minutes'"))


def sweep_cost(rt, count: int):
    stalled_conversations(rt, count)
    sweep(rt)  # warm-up
    before = counters.snapshot()
    result = sweep(rt)
    return counters.since(before), result


def test_the_recovery_sweep_costs_the_same_for_1_or_200_conversations(rt):
    small, small_result = sweep_cost(rt, 1)
    with rt.sessions() as session:
        session.execute(text("TRUNCATE outbox, messages, turns, conversations, leads RESTART IDENTITY CASCADE"))
    large, large_result = sweep_cost(rt, 200)
    assert len(small_result.restart) == 1 and len(large_result.restart) == 200
    assert small.sql == large.sql == 2
    assert small.redis == large.redis == 1  # one pipelined round trip checks every lock


def decay_cost(rt, count: int) -> tuple[int, int]:
    stalled_conversations(rt, count)
    with rt.sessions() as session:
        session.execute(text(
            "UPDATE leads SET engagement_score = 0.5, engagement_decayed_at = now() - interval '2 hours'"))
    before = counters.snapshot()
    changed = decay(rt)
    return counters.since(before).sql, changed


def test_decay_is_one_statement_for_1_or_200_leads(rt):
    small = decay_cost(rt, 1)
    with rt.sessions() as session:
        session.execute(text("TRUNCATE outbox, messages, turns, conversations, leads RESTART IDENTITY CASCADE"))
    large = decay_cost(rt, 200)
    assert small == (1, 1) and large == (1, 200)
