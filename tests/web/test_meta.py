"""GET/POST /webhooks/meta: the handshake, the signature before anything else, store once, enqueue."""

from __future__ import annotations

import json

import pytest

from sdr.settings import load_settings
from tests.factories import rows
from tests.meta_factories import (
    APP_SECRET,
    STATUS_READ,
    TEXT_BODY,
    VERIFY_TOKEN,
    envelope,
    meta_env,
    signed,
    text_message,
)
from tests.web.conftest import make_app, queued


@pytest.fixture()
def client(rt, base_env):
    return make_app(load_settings({**base_env, **meta_env("http://127.0.0.1:9")})).test_client()


def stored(rt) -> list:
    with rt.sessions() as session:
        return rows(session, "SELECT * FROM messages ORDER BY id")


def post(client, body, secret=APP_SECRET, headers=None):
    raw, signed_headers = signed(body, secret)
    return client.post("/webhooks/meta", data=raw, headers={**signed_headers, **(headers or {})})


def test_the_handshake_echoes_the_challenge_as_plain_text(client):
    answer = client.get("/webhooks/meta", query_string={
        "hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": VERIFY_TOKEN})
    assert answer.status_code == 200 and answer.data == b"1158201444"
    assert answer.mimetype == "text/plain"


@pytest.mark.parametrize("query, status", [
    ({"hub.mode": "subscribe", "hub.challenge": "1158201444", "hub.verify_token": "meatyhamhock"}, 403),
    ({"hub.mode": "subscribe", "hub.challenge": "1158201444"}, 403),
    ({"hub.mode": "unsubscribe", "hub.challenge": "1", "hub.verify_token": VERIFY_TOKEN}, 400),
    ({"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}, 400),
])
def test_a_wrong_handshake_is_refused(client, query, status):
    answer = client.get("/webhooks/meta", query_string=query)
    assert answer.status_code == status and b"1158201444" not in answer.data


def test_a_signed_message_is_stored_once_and_its_ingest_enqueued(rt, client):
    answer = post(client, TEXT_BODY)
    assert answer.status_code == 200, answer.json
    assert (answer.json["stored"], answer.json["duplicates"], answer.json["ignored"]) == (1, 0, [])
    [message] = stored(rt)
    assert (message.provider, message.channel_ref, message.lead_address) == ("meta", "106540352242922",
                                                                             "+16505551234")
    assert (message.text, message.profile_name) == ("Does it come in another color?", "Sheena Nelson")
    assert queued(rt, "ingest") == [("sdr.ingest", [message.id])]
    again = post(client, TEXT_BODY)
    assert again.status_code == 200 and again.json["duplicates"] == 1
    assert len(stored(rt)) == 1 and len(queued(rt, "ingest")) == 1


def test_the_signature_is_checked_over_the_raw_bytes_as_received(rt, client):
    accented = text_message("+5511987654321", "Olá, quero instalação ☀️")
    raw = json.dumps(accented, ensure_ascii=False, indent=1).encode()  # not how Python would re-serialize it
    answer = post(client, raw)
    assert answer.status_code == 200 and answer.json["stored"] == 1
    assert stored(rt)[0].text == "Olá, quero instalação ☀️"


@pytest.mark.parametrize("change, status", [
    ({"X-Hub-Signature-256": None}, 401),
    ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403),
    ({"secret": "the-verify-token-is-not-the-key"}, 403),
    ({"secret": "meta-access-token-for-tests"}, 403),
])
def test_bad_signatures_store_nothing(rt, client, change, status):
    raw, headers = signed(TEXT_BODY, change.get("secret", APP_SECRET))
    if "X-Hub-Signature-256" in change:
        headers.pop("X-Hub-Signature-256")
        if change["X-Hub-Signature-256"]:
            headers["X-Hub-Signature-256"] = change["X-Hub-Signature-256"]
    answer = client.post("/webhooks/meta", data=raw, headers=headers)
    assert answer.status_code == status
    assert stored(rt) == [] and queued(rt, "ingest") == []


def test_a_body_changed_after_signing_is_refused(rt, client):
    raw, headers = signed(TEXT_BODY)
    answer = client.post("/webhooks/meta", data=raw + b"\n", headers=headers)
    assert answer.status_code == 403 and stored(rt) == []


def test_statuses_and_ignored_events_get_200(rt, client):
    reaction = {"from": "16505551234", "id": "wamid.r", "timestamp": "1", "type": "reaction",
                "reaction": {"message_id": "wamid.x", "emoji": "👍"}}
    answer = post(client, envelope([reaction], statuses=[STATUS_READ]))
    assert answer.status_code == 200
    assert (answer.json["stored"], answer.json["ignored"]) == (0, ["reaction"]) and "statuses" in answer.json
    assert stored(rt) == [] and queued(rt, "ingest") == []


@pytest.mark.parametrize("raw", [b"{not json", b"[]", b'{"object": "whatsapp_business_account"}'])
def test_malformed_but_signed_bodies_are_400(rt, client, raw):
    answer = post(client, raw)
    assert answer.status_code == 400 and answer.json["reason"]
    assert stored(rt) == []


def test_without_meta_configuration_the_webhook_does_not_exist(rt):
    plain = make_app(rt.settings).test_client()
    assert post(plain, TEXT_BODY).status_code == 404
    assert plain.get("/webhooks/meta", query_string={"hub.mode": "subscribe"}).status_code == 404


def test_a_batched_body_is_stored_with_one_statement(rt, client):
    from sdr.accounting import counters
    from tests.meta_factories import wamid

    post(client, text_message("+5511900000009", "aquecimento"))  # warm up
    messages = [{"from": f"55119000000{n:02d}", "id": wamid(), "timestamp": "1750025136", "type": "text",
                 "text": {"body": f"Oi {n}"}} for n in range(20)]
    before = counters.snapshot()
    answer = post(client, envelope(messages))
    assert answer.status_code == 200 and answer.json["stored"] == 20
    assert counters.since(before).sql == 1
