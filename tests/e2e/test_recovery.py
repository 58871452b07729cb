"""Recovery, end to end: a worker killed -9 in the middle of a turn, Redis flushed before and
during processing, and a human pause that runs out. Each time the lead ends up with exactly
one answer.

Acceptance D (worker SIGKILL mid-turn — during the analysis call, then redelivery of its
unacknowledged messages; and during the provider call, which must never be repeated),
E (Redis FLUSHDB after the 2xx, and while a turn runs) and F (the human pause ends after
SDR_HUMAN_PAUSE_MINUTES). Invariants I1 (no message that got a 2xx is lost), I2 (no reply is
delivered twice, whatever is redelivered), I4 (no bot message while paused).

The timers are small so that recovery takes seconds: the turn lock lives 8 s, a step may take
6 s, unacknowledged broker messages become visible again after 12 s, the recovery sweep runs
every 2 s, and a human pause lasts 3 s (0.05 minute). sdr.settings.check_consistency accepts
these values; the fixture proves it by loading them.
"""

from __future__ import annotations

import signal
import time

import pytest

from sdr.settings import load_settings
from tests.e2e.helpers import (
    REPLY_TIMEOUT,
    flush_redis,
    human_types,
    inbound_message,
    lead_says,
    queue_length,
    restore_expired_unacked,
    scalar,
    send_requests_to,
    sends_to,
    settle,
    sql,
    turns_of,
    unacked_tasks,
    wait_analysis_in_flight,
    wait_conversation,
    wait_for_sends,
)
from tests.factories import phone
from tests.fleet import wait_until

VISIBILITY_TIMEOUT = 12.0
RECOVERY_ENV = {
    "SDR_TURN_LOCK_SECONDS": "8",
    "SDR_STEP_TIME_LIMIT": "6",
    "SDR_LLM_TIMEOUT_SECONDS": "5",
    "SDR_PROVIDER_CONNECT_TIMEOUT": "1",
    "SDR_PROVIDER_READ_TIMEOUT": "3",
    "SDR_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    "SDR_SWEEP_INTERVAL_SECONDS": "2",
    "SDR_SWEEP_GRACE_SECONDS": "1",
    "SDR_HUMAN_PAUSE_MINUTES": "0.05",
}
RECOVERY_TIMEOUT = 60.0  # lock expiry + sweep + a turn, on a busy 2-core machine


@pytest.fixture(scope="module")
def fleet_env(base_env: dict[str, str]) -> dict[str, str]:
    env = {**base_env, **RECOVERY_ENV}
    load_settings(env)  # raises if the small timers break the inequalities sdr relies on
    return env


def test_worker_killed_mid_turn_then_redelivery_still_one_reply(e2e, llm, evolution, settings):
    lead = phone(401)
    text = "Boa tarde! Quero um orçamento de energia solar para minha casa em Campinas"
    llm.configure(latency=3.0)
    lead_says(e2e, lead, text)
    wait_analysis_in_flight(llm, text)

    stranded = {tid: name for tid, name in unacked_tasks(e2e).items() if name == "sdr.turn.analyze"}
    assert len(stranded) == 1, f"expected the running analysis step unacknowledged, got {unacked_tasks(e2e)}"
    e2e.kill("worker")  # SIGKILL while the analysis call is in flight
    killed_at = time.monotonic()
    llm.configure(latency=0.2)
    [running] = turns_of(settings, lead)
    assert running.status == "running" and sends_to(evolution, lead) == []

    # A worker runs again: once the dead turn's lock expires the recovery sweep starts a new turn.
    e2e.relaunch("worker")
    assert wait_for_sends(evolution, lead, 1, RECOVERY_TIMEOUT) != []

    # The killed worker's analysis step stays unacknowledged in Redis; once the visibility timeout
    # has passed the broker hands it out again, and the running worker consumes it.
    time.sleep(max(0.0, VISIBILITY_TIMEOUT + 1 - (time.monotonic() - killed_at)))
    offset = len(e2e.log("worker"))
    restore_expired_unacked(e2e, VISIBILITY_TIMEOUT)
    [task_id] = stranded
    wait_until(lambda: task_id not in unacked_tasks(e2e) and queue_length(e2e, "agent") == 0
               and "Task sdr.turn.analyze[" in e2e.log("worker")[offset:], RECOVERY_TIMEOUT, 0.2,
               "the killed worker's analysis step to be redelivered and consumed")
    settle(e2e, extra=3)

    assert len(sends_to(evolution, lead)) == 1, sends_to(evolution, lead)
    turns = turns_of(settings, lead)
    assert [t.status for t in turns] == ["abandoned", "done"], [(t.id, t.status, t.error) for t in turns]
    # The redelivered step found its lock gone and did nothing: one analysis for the killed turn,
    # one analysis and one reply for the turn that answered.
    assert llm.stats()["calls"] == {"analysis": 2, "reply": 1}


def test_worker_killed_while_the_provider_call_is_in_flight_never_resends(e2e, evolution, settings):
    lead = phone(405)
    evolution.configure(latency=3.0)
    lead_says(e2e, lead, "Oi, quero saber se vale a pena instalar placas num apartamento")
    wait_until(lambda: send_requests_to(evolution, lead) and evolution.stats()["in_flight"] >= 1,
               REPLY_TIMEOUT, 0.05, "the reply's provider call to be in flight")
    e2e.kill("worker")  # SIGKILL: the provider may take the message, the worker never hears back
    evolution.configure(latency=0)
    e2e.relaunch("worker")

    # Once the lock expires the sweep looks again: the part may have reached the lead, so the
    # dead turn's messages count as answered and nothing is sent again.
    wait_until(lambda: turns_of(settings, lead)[0].status != "running", RECOVERY_TIMEOUT, 0.2,
               "the killed turn to be closed by the next one")
    settle(e2e, extra=3)
    assert len(send_requests_to(evolution, lead)) == 1
    [turn] = turns_of(settings, lead)
    assert turn.status == "abandoned"
    outbox = sql(settings, "SELECT status FROM outbox WHERE turn_id = :tid", tid=turn.id)
    assert [row.status for row in outbox] == ["unknown"]
    assert scalar(settings, "SELECT watermark_id = last_inbound_id FROM conversations") is True


def test_redis_flushed_after_the_webhook_acknowledged_the_message(e2e, evolution, settings):
    lead = phone(402)
    e2e.kill("worker", signal.SIGTERM)  # nobody consumes: the ingest task waits in Redis
    pmid = lead_says(e2e, lead, "Olá, vi o anúncio de vocês e queria uma simulação")
    wait_until(lambda: queue_length(e2e, "ingest") == 1, 10, 0.1, "the ingest task queued in Redis")

    flush_redis(e2e)
    assert queue_length(e2e, "ingest") == 0
    assert inbound_message(settings, pmid).conversation_id is None  # stored, never routed
    jobs_offset = len(e2e.log("jobs"))
    e2e.relaunch("worker")

    assert wait_for_sends(evolution, lead, 1, RECOVERY_TIMEOUT) != []
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1
    assert inbound_message(settings, pmid).conversation_id is not None
    assert [t.status for t in turns_of(settings, lead)] == ["done"]
    assert "'rerouted': 1" in e2e.log("jobs")[jobs_offset:], "the recovery sweep should have routed it"


def test_redis_flushed_while_a_turn_runs_still_one_reply(e2e, llm, evolution, settings):
    lead = phone(403)
    text = "Oi! Vocês atendem Sorocaba? Tenho um galpão grande"
    llm.configure(latency=1.5)
    lead_says(e2e, lead, text)
    wait_analysis_in_flight(llm, text)

    flush_redis(e2e)  # the turn's lock, the debounce state and every queued task are gone

    assert wait_for_sends(evolution, lead, 1, RECOVERY_TIMEOUT) != []
    settle(e2e, extra=4)  # longer than a whole turn at this latency
    assert len(sends_to(evolution, lead)) == 1, sends_to(evolution, lead)
    turns = turns_of(settings, lead)
    assert turns[-1].status == "done"
    assert all(t.status == "abandoned" for t in turns[:-1]), [(t.id, t.status) for t in turns]


def test_human_pause_runs_out_and_the_bot_answers_again(e2e, llm, evolution, settings):
    lead = phone(404)
    human_types(e2e, lead, "Oi Maria, aqui é o Carlos da loja. Posso te ligar mais tarde?")
    during = lead_says(e2e, lead, "Pode sim, depois das 18h")
    paused = wait_conversation(settings, lead, "paused")
    wait_until(lambda: inbound_message(settings, during).conversation_id is not None, 20, 0.1,
               "the lead's message to be routed")

    # When the pause runs out, the sweep hands the conversation back and answers what was said.
    first = wait_for_sends(evolution, lead, 1, REPLY_TIMEOUT)
    assert len(first) == 1
    [turn] = turns_of(settings, lead)
    assert turn.status == "done" and turn.upto_message_id == inbound_message(settings, during).id
    assert turn.started_at >= paused.paused_until, "a turn ran while the conversation was paused"
    assert scalar(settings, "SELECT status FROM conversations WHERE id = :cid", cid=paused.id) == "bot"

    # A later message is answered as usual.
    later = lead_says(e2e, lead, "Ah, e qual é o prazo de instalação?")
    wait_for_sends(evolution, lead, 2, REPLY_TIMEOUT)
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 2
    turns = turns_of(settings, lead)
    assert [t.status for t in turns] == ["done", "done"]
    assert turns[1].upto_message_id == inbound_message(settings, later).id
