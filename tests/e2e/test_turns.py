"""Turns, end to end: debounce, one turn at a time per conversation, order, and parallelism
across conversations — observed on the real web, worker, jobs and beat processes.

Acceptance A (a burst inside the quiet window gets one turn and one reply, with exactly one
analysis call and one reply call that see every message) and C (a message that arrives while
the lead's turn runs is answered by the next turn; turns of a conversation never overlap;
replies arrive in order; many leads are answered in parallel). Invariants I3 (one turn at a
time, in order, a burst gets one answer) and I5 (one analysis and one reply call per turn).

The quiet window is 1.2 s here (0.6 s elsewhere) so that a burst posted back to back stays
inside it even on a busy machine.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.e2e.helpers import (
    analysis_requests,
    evolution_headers,
    inbound_message,
    lead_says,
    post_concurrently,
    reply_requests,
    send_requests_to,
    sends_to,
    settle,
    sql,
    turns_of,
    wait_analysis_in_flight,
    wait_for_sends,
)
from tests.factories import evolution_upsert, phone
from tests.fleet import wait_until


@pytest.fixture(scope="module")
def fleet_env(base_env: dict[str, str]) -> dict[str, str]:
    return {**base_env, "SDR_BUFFER_QUIET_SECONDS": "1.2"}


def test_burst_inside_the_quiet_window_gets_one_turn_and_one_reply(e2e, llm, evolution, settings):
    lead = phone(201)
    burst = ["Oi, boa tarde", "queria saber sobre placas solares", "minha conta de luz vem uns 600 reais"]
    ids = [lead_says(e2e, lead, text) for text in burst]

    assert len(wait_for_sends(evolution, lead, 1)) == 1
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1

    [turn] = turns_of(settings, lead)
    assert turn.status == "done" and turn.parts == 1
    # (ids are read back: a message routed after a newer one is given a fresh, later id)
    assert (turn.base_watermark_id, turn.upto_message_id) == (0, max(inbound_message(settings, i).id for i in ids))
    assert llm.stats()["calls"] == {"analysis": 1, "reply": 1}
    assert len(analysis_requests(llm, *burst)) == 1, "the one analysis call must see all three messages"
    assert len(reply_requests(llm, burst[-1])) == 1


def test_message_during_a_running_turn_is_answered_by_the_next_turn(e2e, llm, evolution, settings):
    lead = phone(202)
    first, second = "Vocês instalam em telhado de barro?", "E fazem financiamento em quantas vezes?"
    llm.configure(latency=1.5)
    lead_says(e2e, lead, first)
    wait_analysis_in_flight(llm, first)
    later = lead_says(e2e, lead, second)  # the first turn is mid-analysis now

    assert len(wait_for_sends(evolution, lead, 1)) == 1
    settle(e2e, extra=4)  # longer than a whole turn at this latency: a stray reply would show
    assert len(sends_to(evolution, lead)) == 1

    second_id = inbound_message(settings, later).id
    running, answering = turns_of(settings, lead)
    # The turn that was running did not answer the new message: it stood down before sending …
    assert running.upto_message_id < second_id
    assert running.status == "superseded"
    assert sql(settings, "SELECT status FROM outbox WHERE turn_id = :tid", tid=running.id) in ([], [("cancelled",)])
    # … and the next turn answered both messages, with one analysis that saw both.
    assert answering.status == "done"
    assert (answering.base_watermark_id, answering.upto_message_id) == (0, second_id)
    assert len(analysis_requests(llm, first, second)) == 1
    assert llm.stats()["calls"] == {"analysis": 2, "reply": 2}


def test_replies_arrive_in_order_one_turn_at_a_time(e2e, llm, evolution, settings):
    lead = phone(203)
    questions = ["Qual é a garantia das placas?", "Quanto tempo demora a instalação?",
                 "Precisa reforçar o telhado?"]
    llm.configure(latency=0.3)
    evolution.configure(latency=1.2)  # each reply is still being delivered when the next question comes
    ids = [lead_says(e2e, lead, questions[0])]
    for count, question in enumerate(questions[1:], start=1):
        wait_until(lambda n=count: len(send_requests_to(evolution, lead)) == n and evolution.stats()["in_flight"] >= 1,
                   45, 0.05, f"reply {count} being delivered")
        ids.append(lead_says(e2e, lead, question))

    delivered = wait_for_sends(evolution, lead, len(questions))
    settle(e2e, extra=3)
    assert sends_to(evolution, lead) == delivered and len(delivered) == len(questions)

    turns = turns_of(settings, lead)
    assert [t.status for t in turns] == ["done"] * len(questions)
    message_ids = [inbound_message(settings, pmid).id for pmid in ids]
    # Turn k answered exactly question k: the question that came in during turn k-1 went to turn k.
    assert [(t.base_watermark_id, t.upto_message_id) for t in turns] == list(zip([0] + message_ids[:-1], message_ids))
    # Delivered in the order of the turns that wrote them.
    written = sql(settings, "SELECT body FROM outbox WHERE conversation_id = :cid AND status = 'sent' "
                            "ORDER BY turn_id, part", cid=turns[0].conversation_id)
    assert delivered == [row.body for row in written]


def test_many_leads_at_once_are_answered_in_parallel(e2e, llm, evolution, settings):
    leads = [phone(300 + n) for n in range(30)]
    llm.configure(latency=1.5)
    bodies = [evolution_upsert(lead, f"Oi, sou o cliente {n} e quero uma proposta de energia solar")
              for n, lead in enumerate(leads)]
    answers = post_concurrently(e2e.url + "/webhooks/evolution", bodies, evolution_headers(e2e))
    assert [a.status_code for a in answers] == [200] * len(leads)

    numbers = {lead.lstrip("+") for lead in leads}
    wait_until(lambda: numbers <= {s["number"] for s in evolution.sent()}, 90, 0.5, "every lead to get a reply")
    settle(e2e)

    per_lead = Counter(s["number"] for s in evolution.sent())
    assert {number: per_lead[number] for number in numbers} == {number: 1 for number in numbers}
    assert llm.stats()["calls"] == {"analysis": len(leads), "reply": len(leads)}
    # Thirty turns at 1.5 s per model call were not taken one after another.
    assert llm.stats()["max_in_flight"] >= 10, llm.stats()
    done = sql(settings, "SELECT count(*) AS n FROM turns WHERE status = 'done'")[0].n
    assert done == len(leads)
