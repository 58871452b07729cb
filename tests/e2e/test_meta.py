"""Meta Cloud API end to end through the real processes: a signed webhook into the real web app, the real
worker fleet, and the reply out through the Meta stand-in."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
import requests
from sqlalchemy import text

from sdr.chips import NewChip, add_chip, ensure_env_chips
from sdr.db import session_scope
from sdr.settings import load_settings
from tests.e2e.helpers import inbound_message, scalar, settle, sql, wait_turn_closed
from tests.factories import phone
from tests.fleet import wait_until
from tests.meta_factories import APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN, meta_env, signed, text_message

REPLY_TIMEOUT = 45.0
SECOND = "555000111"


@pytest.fixture(scope="module")
def fleet_env(base_env: dict[str, str], meta_server) -> dict[str, str]:
    return {**base_env, **meta_env(meta_server.url), "SDR_CHIP_SECRET_VENDAS2": "chip-2-token"}


@pytest.fixture()
def meta_fleet(e2e, meta, fleet_env):
    """The running fleet from a clean state, with the environment's Meta chip registered."""
    with session_scope(load_settings(fleet_env)) as session:
        ensure_env_chips(session, load_settings(fleet_env))
    yield e2e
    assert_each_reply_sent_once(e2e, meta)


def assert_each_reply_sent_once(fleet, meta) -> None:
    """I2 on Meta: a (recipient, text) delivered n times comes from n different turns."""
    settings = load_settings(fleet.env)
    for (to, body), times in Counter((s["to"], s["text"]) for s in meta.sent()).items():
        turns = scalar(settings, "SELECT count(DISTINCT turn_id) FROM outbox WHERE to_address = :a AND body = :b "
                                 "AND status IN ('sent', 'unknown')", a=to, b=body)
        assert times <= turns, f"{body!r} was delivered {times}x to {to} by {turns} turn(s)"


def post_meta(fleet, body: dict[str, Any] | bytes, secret: str = APP_SECRET) -> requests.Response:
    raw, headers = signed(body, secret)
    return fleet.post("/webhooks/meta", data=raw, headers=headers)


def sends_to(meta, to: str) -> list[dict[str, Any]]:
    return [s for s in meta.sent() if s["to"] == to]


def test_a_signed_lead_message_is_answered_through_the_meta_stand_in(meta_fleet, meta, settings):
    body = text_message(phone(1), "Oi! Quanto custa um sistema de energia solar?", name="Joana")
    answer = post_meta(meta_fleet, body)
    assert answer.status_code == 200 and answer.json()["stored"] == 1, answer.text
    sent = wait_until(lambda: sends_to(meta, phone(1)), REPLY_TIMEOUT, 0.2, "a reply through Meta")
    assert sent[0]["phone_number_id"] == PHONE_NUMBER_ID and sent[0]["type"] == "text"
    [outbox] = sql(settings, "SELECT * FROM outbox WHERE to_address = :a AND status = 'sent'", a=phone(1))
    assert (outbox.body, outbox.provider_message_id) == (sent[0]["text"], sent[0]["message_id"])
    inbound = inbound_message(settings, body["entry"][0]["changes"][0]["value"]["messages"][0]["id"])
    assert (inbound.provider, inbound.channel_ref, inbound.profile_name) == ("meta", PHONE_NUMBER_ID, "Joana")
    request = [r for r in meta.requests("send") if r["to"] == phone(1)][0]
    assert request["headers"]["Authorization"] == "Bearer meta-access-token-for-tests"


def test_the_same_message_delivered_twice_concurrently_gets_one_reply(meta_fleet, meta, settings):
    raw, headers = signed(text_message(phone(2), "Oi, vocês instalam em Campinas?"))
    barrier = threading.Barrier(4)
    answers: list[Any] = []

    def deliver() -> None:
        with requests.Session() as session:
            barrier.wait(10)
            answers.append(session.post(meta_fleet.url + "/webhooks/meta", data=raw, headers=headers, timeout=30))

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [200] * 4
    assert sum(a.json()["stored"] for a in answers) == 1 and sum(a.json()["duplicates"] for a in answers) == 3
    wait_turn_closed(settings, phone(2))
    settle(meta_fleet)
    assert len(sends_to(meta, phone(2))) == 1
    assert scalar(settings, "SELECT count(*) FROM messages WHERE direction = 'in'") == 1
    assert scalar(settings, "SELECT count(*) FROM turns") == 1


def test_bad_signatures_are_refused_by_the_real_web_process_and_nothing_is_stored(meta_fleet, meta, settings):
    body = text_message(phone(3), "Oi")
    assert post_meta(meta_fleet, body, secret="not-the-app-secret").status_code == 403
    raw, headers = signed(body)
    assert meta_fleet.post("/webhooks/meta", data=raw + b" ", headers=headers).status_code == 403
    assert meta_fleet.post("/webhooks/meta", data=raw, headers={"Content-Type": "application/json"}).status_code == 401
    assert scalar(settings, "SELECT count(*) FROM messages") == 0


def test_the_handshake_and_a_status_callback_from_the_stand_in(meta_fleet, meta):
    handshake = meta_fleet.get("/webhooks/meta", params={"hub.mode": "subscribe", "hub.challenge": "424242",
                                                    "hub.verify_token": VERIFY_TOKEN})
    assert (handshake.status_code, handshake.text) == (200, "424242")
    answer = post_meta(meta_fleet, text_message(phone(4), "Oi, quero um orçamento"))
    assert answer.status_code == 200
    [sent] = wait_until(lambda: sends_to(meta, phone(4)), REPLY_TIMEOUT, 0.2, "a reply through Meta")
    callback = requests.post(meta.url + "/_control/status_callback", timeout=10, json={
        "url": meta_fleet.url + "/webhooks/meta", "app_secret": APP_SECRET, "message_id": sent["message_id"],
        "status": "delivered", "recipient_id": phone(4).lstrip("+"), "phone_number_id": PHONE_NUMBER_ID})
    assert callback.json()["status_code"] == 200


def test_each_conversation_answers_from_its_own_chip(meta_fleet, meta, settings):
    with session_scope(settings) as session:
        add_chip(session, NewChip("meta", SECOND, credentials_ref="SDR_CHIP_SECRET_VENDAS2"))
    meta.configure(tokens={SECOND: "chip-2-token"})
    assert post_meta(meta_fleet, text_message(phone(5), "Oi, sou do anúncio")).status_code == 200
    assert post_meta(meta_fleet, text_message(phone(6), "Oi, vim pelo site", phone_number_id=SECOND)).status_code == 200
    wait_until(lambda: sends_to(meta, phone(5)) and sends_to(meta, phone(6)), REPLY_TIMEOUT, 0.2, "both replies")
    assert [s["phone_number_id"] for s in sends_to(meta, phone(5))] == [PHONE_NUMBER_ID]
    assert [s["phone_number_id"] for s in sends_to(meta, phone(6))] == [SECOND]


def test_a_reply_over_the_chips_cap_waits_in_the_worker_and_goes_out_when_allowed(meta_fleet, meta, settings):
    with session_scope(settings) as session:
        session.execute(text("UPDATE chips SET hourly_cap = 1 WHERE external_id = :e"), {"e": PHONE_NUMBER_ID})
    post_meta(meta_fleet, text_message(phone(7), "Oi, primeira pessoa"))
    wait_until(lambda: sends_to(meta, phone(7)), REPLY_TIMEOUT, 0.2, "the first reply")
    post_meta(meta_fleet, text_message(phone(8), "Oi, segunda pessoa"))
    waiting = wait_until(lambda: sql(settings, "SELECT o.* FROM outbox o JOIN conversations c ON c.id = "
                                               "o.conversation_id JOIN leads l ON l.id = c.lead_id WHERE "
                                               "l.address = :a AND o.last_error LIKE '%cap reached%'", a=phone(8)),
                         REPLY_TIMEOUT, 0.2, "the second reply to wait for the cap")
    assert waiting[0].status in ("retry", "sending")
    settle(meta_fleet, extra=3)  # several retry rounds of the worker: still within the cap
    assert sends_to(meta, phone(8)) == [] and len(meta.sent()) == 1
    with session_scope(settings) as session:
        session.execute(text("UPDATE chips SET hourly_cap = 2 WHERE external_id = :e"), {"e": PHONE_NUMBER_ID})
    wait_until(lambda: sends_to(meta, phone(8)), REPLY_TIMEOUT, 0.2, "the waiting reply once the cap allows it")
    assert len(meta.sent()) == 2
