"""The history cache: one round trip to read, refilled on a round trip the turn makes anyway, and checked
against Postgres so a message recorded while it filled (or changed after) is never hidden."""

from __future__ import annotations

from sqlalchemy import text

from sdr.accounting import counters
from sdr.knowledge import store_knowledge
from sdr.knowledge_files import parse_file
from sdr.memory import CachedHistory, forget_conversation_cache, forget_lead_cache, history_key, recall_history
from sdr.pipeline import analyze_step, reply_step, start_step
from sdr.settings import REPO_ROOT
from sdr.turns import begin_turn
from tests.conftest import with_settings
from tests.factories import phone, receive, run_turn

REPLY = "Certo! Qual é o valor médio da sua conta de luz?"


def converse(rt, llm, *texts: str) -> int:
    """One turn per text; returns the conversation id."""
    llm.script([{"kind": "reply", "content": f"{REPLY} ({n})"} for n in range(len(texts))])
    cid = None
    for line in texts:
        cid = receive(rt, phone(1), line).conversation_id
        assert run_turn(rt, cid).outcome == "done"
    return cid


def context_of(rt, cid: int, cached: CachedHistory | None):
    with rt.sessions() as session:
        begun = begin_turn(session, cid, "probe", None, cached, rt.settings.history_messages)
        session.rollback()  # a look, not a turn
    return begun.context


def cached(rt, cid: int) -> CachedHistory | None:
    return CachedHistory.loads(rt.redis.get(history_key(cid)))


def test_a_miss_reads_postgres_once_and_the_fill_rides_on_the_next_round_trip(rt, llm):
    cid = converse(rt, llm, "Oi", "Moro em Campinas")
    rt.redis.delete(history_key(cid))
    receive(rt, phone(1), "Quanto custa?")
    started = start_step(rt, cid, "")

    before = counters.snapshot()
    payload = analyze_step(rt, cid, started.token, started.queued_at, last_attempt=True)
    analyzed = counters.since(before)
    assert (analyzed.sql, analyzed.redis) == (2, 1)  # the context statement, the analysis write; one round trip
    assert cached(rt, cid) is None

    before = counters.snapshot()
    reply_step(rt, payload, last_attempt=True)
    replied = counters.since(before)
    # one round trip renews the lock, looks the question up and refills the history; the knowledge miss
    # costs its search and one round trip to store it; the reply is one statement
    assert (replied.sql, replied.redis) == (2, 2)
    window = cached(rt, cid)
    assert [i.text for i in window.items] == ["Oi", f"{REPLY} (0)", "Moro em Campinas", f"{REPLY} (1)"]


def test_a_hit_costs_one_round_trip_and_gives_the_same_history(rt, llm):
    cid = converse(rt, llm, "Oi", "Moro em Campinas", "Casa térrea")
    receive(rt, phone(1), "E o preço?")
    window = cached(rt, cid)
    assert window is not None
    before = counters.snapshot()
    owned, read = recall_history(rt, cid, "not-the-owner")
    assert counters.since(before).redis == 1 and not owned and read == window
    assert context_of(rt, cid, read).history == context_of(rt, cid, None).history


def test_a_message_committed_late_inside_the_cached_range_is_not_hidden(rt, llm):
    converse(rt, llm, "Oi")
    with rt.sessions() as session:  # an id taken by a transaction that commits only after the cache filled
        late_id = session.execute(text("SELECT nextval(pg_get_serial_sequence('messages', 'id'))")).scalar()
    llm.reset()
    cid = converse(rt, llm, "Moro em Campinas", "Casa")
    window = cached(rt, cid)
    assert window.first < late_id < window.through
    with rt.sessions() as session:
        session.execute(text(
            "INSERT INTO messages (id, provider, provider_message_id, channel_ref, lead_address, conversation_id, "
            "direction, author, text, status) VALUES (:id, 'evolution', 'late-human', 'sdr-test', :a, :cid, 'out', "
            "'human', 'Aqui é o João, da equipe', 'sent')"), {"id": late_id, "a": phone(1), "cid": cid})
    receive(rt, phone(1), "Oi João")
    texts = [i.text for i in context_of(rt, cid, window).history]
    assert "Aqui é o João, da equipe" in texts
    assert context_of(rt, cid, window).history == context_of(rt, cid, None).history


def test_a_message_whose_status_changed_after_the_fill_is_seen_as_it_is_now(rt, llm):
    cid = converse(rt, llm, "Oi", "Moro em Campinas", "Casa")
    window = cached(rt, cid)
    with rt.sessions() as session:  # the provider reports the second reply failed after all
        session.execute(text("UPDATE messages SET status = 'failed' WHERE text = :t"), {"t": f"{REPLY} (1)"})
    receive(rt, phone(1), "Alô?")
    texts = [i.text for i in context_of(rt, cid, window).history]
    assert f"{REPLY} (1)" not in texts and f"{REPLY} (0)" in texts and "Alô?" in texts


def test_pending_messages_come_from_postgres_and_the_cache_is_completed_from_it(rt, llm):
    cid = converse(rt, llm, "Oi", "Tudo bem")
    window = cached(rt, cid)
    assert [i.text for i in window.items] == ["Oi", f"{REPLY} (0)"]
    receive(rt, phone(1), "Primeira")
    receive(rt, phone(1), "Segunda")
    ctx = context_of(rt, cid, window)
    assert [i.text for i in ctx.pending] == ["Primeira", "Segunda"]
    assert [i.text for i in ctx.earlier] == ["Oi", f"{REPLY} (0)", "Tudo bem", f"{REPLY} (1)"]
    assert ctx.history_fill_through == ctx.earlier[-1].id  # the next step moves the cache forward


def test_the_window_keeps_the_newest_messages(rt, llm):
    small = with_settings(rt, history_messages=4)
    cid = converse(small, llm, "um", "dois", "três")
    receive(small, phone(1), "quatro")
    ctx = context_of(small, cid, cached(small, cid))
    assert [i.text for i in ctx.earlier] == ["dois", f"{REPLY} (1)", "três", f"{REPLY} (2)"]
    assert ctx.earlier == context_of(small, cid, None).earlier


def test_forgetting_drops_the_caches(rt, llm):
    cid = converse(rt, llm, "Oi", "Tudo bem")
    assert rt.redis.exists(history_key(cid))
    forget_conversation_cache(rt.redis, cid)
    assert not rt.redis.exists(history_key(cid))
    llm.reset()
    cid = converse(rt, llm, "De novo", "Oi")
    assert rt.redis.exists(history_key(cid))
    before = counters.snapshot()
    forget_lead_cache(rt.redis, [cid, 999])
    assert counters.since(before).redis == 1 and not rt.redis.exists(history_key(cid))


def test_the_reply_prompt_carries_the_knowledge_found_for_the_question(rt, llm):
    store_knowledge(rt.sessions, rt.redis, parse_file(REPO_ROOT / "playbooks" / "solar-knowledge.md"), "site")
    converse(rt, llm, "Quais são os preços dos kits? E a garantia dos painéis?")
    assert len(llm.requests("analysis")) == 1
    [reply] = llm.requests("reply")
    guidance = reply["body"]["messages"][1]["content"]
    assert "Preços dos kits: Kit residencial 3 kWp" in guidance and "Garantia: Painéis com 25 anos" in guidance
    assert "Análise desta vez" in guidance  # the same turn's analysis, handed over
