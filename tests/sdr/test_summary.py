"""The rolling summary: asked for when the unsummarized history grows, made in the background, and
what keeps a 200-message conversation's prompts as small as a short one's."""

from __future__ import annotations

import json

import threading
import time

from sqlalchemy import text

from sdr.delivery import send_step
from sdr.pipeline import analyze_step, reply_step, start_step
from sdr.summary import MAX_SUMMARY_CHARS, summarize_conversation
from tests.factories import conversation, phone, receive, run_turn

LINE = "Mensagem número {n} da conversa, com um pouco de texto para pesar no prompt como uma mensagem real."


def long_conversation(rt, messages: int) -> int:
    """A conversation with `messages` answered messages (lead and bot alternating), then a new question."""
    cid = receive(rt, phone(1), LINE.format(n=0)).conversation_id
    with rt.sessions() as session:
        session.execute(text("""
            INSERT INTO messages (provider, provider_message_id, channel_ref, lead_address, conversation_id,
                                  direction, author, text, status)
            SELECT 'evolution', 'bulk-' || n, 'sdr-test', :a, :cid,
                   CASE WHEN n % 2 = 0 THEN 'in' ELSE 'out' END, CASE WHEN n % 2 = 0 THEN 'lead' ELSE 'bot' END,
                   replace(:line, '{n}', n::text), CASE WHEN n % 2 = 0 THEN 'received' ELSE 'sent' END
            FROM generate_series(1, :count) AS n ORDER BY n"""),
            {"a": phone(1), "cid": cid, "line": LINE, "count": messages - 1})
        session.execute(text("""
            UPDATE conversations SET watermark_id = m.top, last_inbound_id = m.top
            FROM (SELECT max(id) AS top FROM messages WHERE direction = 'in') m WHERE id = :cid"""), {"cid": cid})
    receive(rt, phone(1), "E quanto fica a parcela?")
    return cid


def turn_prompts(rt, llm, cid: int) -> tuple[dict, list[dict], list[dict]]:
    """Run a turn; (the analyze step's payload, analysis messages, reply messages)."""
    llm.reset()
    started = start_step(rt, cid, "")
    payload = analyze_step(rt, cid, started.token, started.queued_at, last_attempt=True)
    assert send_step(rt, reply_step(rt, payload, last_attempt=True), last_attempt=True).outcome == "done"
    [analysis] = llm.requests("analysis")
    [reply] = llm.requests("reply")
    return payload, analysis["body"]["messages"], reply["body"]["messages"]


def size(messages: list[dict]) -> int:
    return sum(len(m["content"]) for m in messages)


def test_a_200_message_conversation_gets_a_summary_and_bounded_prompts(rt, llm):
    short_cid = long_conversation(rt, 20)
    _, short_analysis, short_reply = turn_prompts(rt, llm, short_cid)
    with rt.sessions() as session:
        session.execute(text("TRUNCATE outbox, messages, turns, conversations, leads RESTART IDENTITY CASCADE"))
    cid = long_conversation(rt, 200)

    payload, analysis, reply = turn_prompts(rt, llm, cid)
    assert payload["context"]["summary_due"]
    window = rt.settings.history_messages
    assert sum(m["content"].count("Mensagem número") for m in reply) == window
    # As small as the 20-message conversation's, whatever the length of the conversation.
    assert size(reply) <= size(short_reply) + 200 and size(analysis) <= size(short_analysis) + 200

    summarized = summarize_conversation(rt, cid)
    # the 200, the new question and its reply, but the newest half window
    assert summarized is not None and summarized.messages == 202 - window // 2
    with rt.sessions() as session:
        conv = conversation(session, cid)
    assert conv.summary and conv.summary_through_id == summarized.through_id
    assert conv.summary_through_id < conv.watermark_id

    receive(rt, phone(1), "E a garantia?")
    payload, analysis, reply = turn_prompts(rt, llm, cid)
    assert not payload["context"]["summary_due"]
    # The summary is made of the lead's words: it travels as user content (data), never as system text.
    quoted = json.dumps(conv.summary, ensure_ascii=False)
    assert any(quoted in m["content"] for m in reply if m["role"] == "user")
    assert not any(conv.summary in m["content"] for m in reply if m["role"] == "system")
    assert any(conv.summary in m["content"] for m in analysis)
    assert size(reply) <= size(short_reply) + MAX_SUMMARY_CHARS + 200
    assert summarize_conversation(rt, cid) is None  # not due again yet: nothing to do, no model call
    assert len(llm.requests("analysis")) == 1  # the turn's own


def test_the_summary_covers_only_answered_messages_and_keeps_the_newest_out(rt, llm):
    cid = long_conversation(rt, 40)
    receive(rt, phone(1), "Mais uma pergunta que ninguém respondeu")
    with rt.sessions() as session:
        unanswered = session.execute(text("SELECT min(m.id) FROM messages m JOIN conversations c ON c.id = :cid "
                                          "WHERE m.conversation_id = :cid AND m.direction = 'in' "
                                          "AND m.id > c.watermark_id"), {"cid": cid}).scalar()
    summarized = summarize_conversation(rt, cid)
    assert summarized.through_id < unanswered
    [call] = llm.requests("analysis")
    sent = call["body"]["messages"][1]["content"]
    assert "Mensagem número 1 " in sent and "ninguém respondeu" not in sent and "quanto fica" not in sent
    assert summarized.messages == 40 - rt.settings.history_messages // 2


def test_a_summary_made_from_an_older_state_is_not_stored(rt, llm):
    cid = long_conversation(rt, 40)
    llm.configure(latency=2.0)

    def another_summary_lands():  # while this one waits for the model
        while not llm.requests("analysis"):
            time.sleep(0.02)
        with rt.sessions() as session:
            session.execute(text("UPDATE conversations SET summary = 'mais novo', summary_through_id = 5 "
                                 "WHERE id = :cid"), {"cid": cid})

    racer = threading.Thread(target=another_summary_lands)
    racer.start()
    result = summarize_conversation(rt, cid)
    racer.join()
    with rt.sessions() as session:
        conv = conversation(session, cid)
    assert result is None and (conv.summary, conv.summary_through_id) == ("mais novo", 5)
    assert len(llm.requests("analysis")) == 1


def test_only_one_summary_of_a_conversation_at_a_time(rt, llm):
    cid = long_conversation(rt, 40)
    rt.redis.set(f"sdr:summarizing:{cid}", "1", ex=60)
    assert summarize_conversation(rt, cid) is None
    assert llm.requests("analysis") == []


def test_a_short_conversation_is_not_summarized(rt, llm):
    cid = receive(rt, phone(1), "Oi").conversation_id
    run_turn(rt, cid)
    assert summarize_conversation(rt, cid) is None
