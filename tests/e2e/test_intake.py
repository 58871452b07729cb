"""The front door and the control room, end to end: duplicate and concurrent webhook deliveries,
bad input, and the operators' surfaces (Flower behind its auth, readiness, the sandbox chat).

Acceptance B (the same webhook delivered twice, and twenty times at once, is stored once and
answered once), H (malformed JSON → 400 with a reason; a wrong or missing secret → 401; neither
stores anything) and I (Flower answers 401 without credentials and 200 with them; web, worker,
jobs and beat are all up; a sandbox message gets a reply; the logs name tasks by the ids Flower
shows). Invariants I1/I2 (durable dedupe:
one row per provider message id, one reply) and I7 (bad input gets a clear 4xx and changes
nothing).
"""

from __future__ import annotations

import pytest
import requests
from celery import Celery

from tests.e2e.helpers import (
    count_messages,
    evolution_headers,
    post_concurrently,
    sends_to,
    settle,
    sql,
    turns_of,
    wait_for_sends,
)
from tests.factories import evolution_upsert, phone
from tests.fleet import wait_until


@pytest.fixture(scope="module")
def fleet_processes() -> tuple[str, ...]:
    return ("web", "worker", "jobs", "beat", "flower")


def stored_rows(settings, provider_message_id: str) -> int:
    return len(sql(settings, "SELECT id FROM messages WHERE provider_message_id = :pmid",
                   pmid=provider_message_id))


# -- B: duplicates --------------------------------------------------------------------------------

def test_the_same_webhook_twice_is_stored_once_and_answered_once(e2e, llm, evolution, settings):
    lead = phone(601)
    body = evolution_upsert(lead, "Oi! Quanto custa a instalação?")
    first, again = e2e.evolution(body), e2e.evolution(body)
    assert (first.status_code, first.json()["stored"], first.json()["duplicates"]) == (200, 1, 0)
    assert (again.status_code, again.json()["stored"], again.json()["duplicates"]) == (200, 0, 1)

    assert len(wait_for_sends(evolution, lead, 1)) == 1
    # The provider retries once more after the reply went out: still nothing new.
    late = e2e.evolution(body)
    assert (late.status_code, late.json()["stored"]) == (200, 0)
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1
    assert stored_rows(settings, body["data"]["key"]["id"]) == 1
    assert [t.status for t in turns_of(settings, lead)] == ["done"]
    assert llm.stats()["calls"] == {"analysis": 1, "reply": 1}


def test_twenty_concurrent_deliveries_are_stored_once_and_answered_once(e2e, llm, evolution, settings):
    lead = phone(602)
    body = evolution_upsert(lead, "Bom dia, vocês fazem visita técnica gratuita?")
    answers = post_concurrently(e2e.url + "/webhooks/evolution", [body] * 20, evolution_headers(e2e))

    assert [a.status_code for a in answers] == [200] * 20
    assert sum(a.json()["stored"] for a in answers) == 1
    assert sum(a.json()["duplicates"] for a in answers) == 19
    assert stored_rows(settings, body["data"]["key"]["id"]) == 1

    assert len(wait_for_sends(evolution, lead, 1)) == 1
    settle(e2e)
    assert len(sends_to(evolution, lead)) == 1
    assert [t.status for t in turns_of(settings, lead)] == ["done"]
    assert llm.stats()["calls"] == {"analysis": 1, "reply": 1}


# -- H: bad input ---------------------------------------------------------------------------------

MALFORMED = {
    "truncated JSON": b'{"event": "messages.upsert", "instance": "sdr-test", "data": {"key": ',
    "not JSON at all": b"event=messages.upsert&instance=sdr-test",
    "not UTF-8": b'{"event": "\xff\xfe"}',
    "empty body": b"",
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_json_is_refused_with_a_reason_and_stores_nothing(e2e, body, settings):
    answer = e2e.post("/webhooks/evolution", data=body,
                      headers={**evolution_headers(e2e), "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert "malformed JSON" in answer.json()["reason"]
    assert count_messages(settings) == 0


def test_well_formed_json_of_the_wrong_shape_is_refused_with_a_reason(e2e, settings):
    for body, reason in [({"instance": "sdr-test", "data": {}}, "event"),
                         ({"event": "messages.upsert", "instance": "sdr-test", "data": {"key": "x"}}, "data.key"),
                         ([1, 2, 3], "object")]:
        answer = e2e.post("/webhooks/evolution", json=body, headers=evolution_headers(e2e))
        assert answer.status_code == 400, (body, answer.text)
        assert reason in answer.json()["reason"], answer.json()
    sandbox = e2e.post("/webhooks/sandbox", json={"phone": phone(603)},
                       params={"secret": e2e.env["SDR_SANDBOX_SECRET"]})
    assert sandbox.status_code == 400 and "text" in sandbox.json()["reason"]
    assert count_messages(settings) == 0


AUTH_FAILURES = {
    "no secret": ({}, {}),
    "wrong header secret": ({"X-Webhook-Secret": "not-the-secret"}, {}),
    "wrong query secret": ({}, {"secret": "not-the-secret"}),
    "another provider's secret": ({"X-Webhook-Secret": "sandbox-secret-for-tests"}, {}),
}


@pytest.mark.parametrize("headers,params", AUTH_FAILURES.values(), ids=AUTH_FAILURES.keys())
def test_wrong_or_missing_secret_is_refused_and_stores_nothing(e2e, headers, params, settings, evolution, llm):
    lead = phone(604)
    valid = evolution_upsert(lead, "Oi, quero um orçamento")
    answer = e2e.post("/webhooks/evolution", json=valid, headers=headers, params=params)
    assert answer.status_code == 401
    assert answer.json()["reason"]
    # Authenticity is checked before the body is even parsed.
    garbage = e2e.post("/webhooks/evolution", data=b"{not json", headers=headers, params=params)
    assert garbage.status_code == 401
    assert count_messages(settings) == 0
    settle(e2e, extra=0.5)
    assert llm.requests() == [] and evolution.requests() == []


# -- I: operators' surfaces -----------------------------------------------------------------------

def test_flower_requires_its_credentials_and_sees_both_workers(e2e):
    user, password = e2e.env["FLOWER_BASIC_AUTH"].split(":", 1)
    assert requests.get(e2e.flower_url + "/", timeout=10).status_code == 401
    assert requests.get(e2e.flower_url + "/", auth=(user, "wrong"), timeout=10).status_code == 401
    assert requests.get(e2e.flower_url + "/", auth=(user, password), timeout=10).status_code == 200

    def workers() -> set[str]:
        answer = requests.get(e2e.flower_url + "/api/workers", params={"refresh": "1"},
                              auth=(user, password), timeout=15)
        assert answer.status_code == 200
        return {name.split("@")[0] for name in answer.json()}

    expected = {f"io-{e2e.name}", f"jobs-{e2e.name}"}
    wait_until(lambda: expected <= workers(), 45, 1, f"Flower to see the workers {expected}")

    # Workers send no task events by default (they cost CPU); Flower switches them on while it runs.
    def task_names() -> set[str]:
        answer = requests.get(e2e.flower_url + "/api/tasks", auth=(user, password), timeout=15)
        assert answer.status_code == 200
        return {task.get("name") for task in answer.json().values()}

    lead = phone(606)
    wait_until(lambda: e2e.sandbox(lead, "Oi, tudo bem?").status_code == 200 and "sdr.ingest" in task_names(),
               60, 5, "Flower to see the tasks the worker runs")


def test_every_process_is_up_and_a_sandbox_message_gets_a_reply(e2e, settings):
    assert all(e2e.alive(name) for name in ("web", "worker", "jobs", "beat", "flower"))
    ready = e2e.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "broker": "ok"}

    # beat triggers the recovery sweep and the jobs worker runs it, again and again.
    offset = len(e2e.log("jobs"))
    wait_until(lambda: e2e.log("jobs")[offset:].count("sdr.jobs.sweep[") >= 2, 30, 0.5,
               "beat to trigger sweeps that the jobs worker runs")

    lead = phone(605)
    secret = e2e.env["SDR_SANDBOX_SECRET"]
    assert e2e.sandbox(lead, "Oi! Vocês atendem em Curitiba?").status_code == 200

    def replies() -> list[dict]:
        got = e2e.get("/sandbox/messages", params={"phone": lead, "secret": secret}).json()["messages"]
        return [m for m in got if m["direction"] == "out"]

    out = wait_until(replies, 45, 0.2, "a reply in the sandbox")
    settle(e2e)
    assert len(replies()) == 1 and out[0]["text"]
    assert [t.status for t in turns_of(settings, lead)] == ["done"]
    assert e2e.get("/sandbox/messages", params={"phone": lead, "secret": "wrong"}).status_code == 401


def test_worker_logs_name_each_task_by_its_real_id(e2e):
    """Operators follow a task from Flower into the logs by its id, so the log must print it as is
    (masking phone numbers must not mask the digit groups of a task id)."""
    task_id = "5f0c3e2a-1234-4867-8815-de797f22ffa5"
    offset = len(e2e.log("jobs"))
    client = Celery("e2e-client", broker=e2e.env["REDIS_URL"])
    try:
        client.send_task("sdr.jobs.decay", task_id=task_id, queue="periodic")
    finally:
        client.close()
    wait_until(lambda: "sdr.jobs.decay[" in e2e.log("jobs")[offset:], 30, 0.2, "the jobs worker to log the task")
    assert f"Task sdr.jobs.decay[{task_id}] received" in e2e.log("jobs")[offset:], e2e.log("jobs")[offset:]
