"""POST /webhooks/<provider>: authenticate, parse, store once, enqueue by id; bad input changes nothing."""

from __future__ import annotations

import copy

import pytest

from sdr.accounting import counters
from tests.factories import evolution_upsert, phone, rows
from tests.web.conftest import queued


@pytest.fixture()
def secret(rt) -> dict[str, str]:
    return {"X-Webhook-Secret": rt.settings.evolution.webhook_secret}


def stored_messages(rt) -> list:
    with rt.sessions() as session:
        return rows(session, "SELECT * FROM messages ORDER BY id")


def test_a_message_is_stored_and_its_ingest_enqueued(rt, client, secret):
    answer = client.post("/webhooks/evolution", json=evolution_upsert(phone(1), "Oi, quero energia solar"),
                         headers=secret)
    assert answer.status_code == 200
    assert answer.json == {"stored": 1, "duplicates": 0, "ignored": []}
    [message] = stored_messages(rt)
    assert (message.lead_address, message.text, message.status) == (phone(1), "Oi, quero energia solar", "received")
    assert queued(rt, "ingest") == [("sdr.ingest", [message.id])]


def test_the_webhook_writes_with_exactly_one_statement(rt, client, secret):
    client.post("/webhooks/evolution", json=evolution_upsert(phone(9), "aquecimento"), headers=secret)  # warm up
    before = counters.snapshot()
    answer = client.post("/webhooks/evolution", json=evolution_upsert(phone(1), "Oi"), headers=secret)
    assert answer.status_code == 200
    assert counters.since(before).sql == 1


def test_secret_in_the_query_string_is_accepted(rt, client):
    answer = client.post("/webhooks/evolution", json=evolution_upsert(phone(1), "Oi"),
                         query_string={"secret": rt.settings.evolution.webhook_secret})
    assert answer.status_code == 200 and answer.json["stored"] == 1


@pytest.mark.parametrize("headers, query", [
    ({}, {}),
    ({"X-Webhook-Secret": "wrong"}, {}),
    ({}, {"secret": "wrong"}),
    ({"X-Webhook-Secret": "sandbox-secret-for-tests"}, {}),  # another provider's secret
])
def test_missing_or_wrong_secret_is_401_and_stores_nothing(rt, client, headers, query):
    answer = client.post("/webhooks/evolution", json=evolution_upsert(phone(1), "Oi"), headers=headers,
                         query_string=query)
    assert answer.status_code == 401
    assert answer.json["reason"] == "missing or wrong webhook secret"
    assert stored_messages(rt) == [] and queued(rt, "ingest") == []


@pytest.mark.parametrize("provider", ["telegram", "whatsapp", "meta"])
def test_unknown_or_unconfigured_provider_is_404(rt, client, secret, provider):
    answer = client.post(f"/webhooks/{provider}", json={"x": 1}, headers=secret)
    assert answer.status_code == 404 and provider in answer.json["reason"]
    assert stored_messages(rt) == []


@pytest.mark.parametrize("body", [b"{not json", b"", b"\xff\xfe\x00", b'{"event": "messages.upsert", '])
def test_malformed_json_is_400_with_a_reason(rt, client, secret, body):
    answer = client.post("/webhooks/evolution", data=body, headers={**secret, "Content-Type": "application/json"})
    assert answer.status_code == 400
    assert answer.json["reason"].startswith("malformed JSON")
    assert stored_messages(rt) == [] and queued(rt, "ingest") == []


@pytest.mark.parametrize("body, reason", [
    ([1, 2], "body must be a JSON object"),
    ({"instance": "sdr-test"}, "missing 'event'"),
    ({"event": "messages.upsert", "instance": "sdr-test", "data": {"key": {"remoteJid": "x@s.whatsapp.net"}}},
     "'data.key.remoteJid' and 'data.key.id' are required"),
])
def test_json_of_the_wrong_shape_is_400_with_a_reason(rt, client, secret, body, reason):
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.status_code == 400 and answer.json["reason"] == reason
    assert stored_messages(rt) == []


def test_a_bad_item_in_a_batch_stores_nothing(rt, client, secret):
    good = evolution_upsert(phone(1), "Oi")
    body = {**good, "data": [good["data"], {"key": {"remoteJid": "nope@s.whatsapp.net", "id": "B"}}]}
    assert client.post("/webhooks/evolution", json=body, headers=secret).status_code == 400
    assert stored_messages(rt) == []


def test_malformed_message_content_is_400_not_a_crash(rt, client, secret):
    body = evolution_upsert(phone(1), "Oi", messageType="extendedTextMessage",
                            message={"extendedTextMessage": "Oi"})
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.status_code == 400
    assert stored_messages(rt) == []


@pytest.mark.parametrize("change, reason", [
    ({"key": {"remoteJid": "120363025246125486@g.us", "fromMe": False, "id": "G1"}}, "group"),
    ({"key": {"remoteJid": "status@broadcast", "fromMe": False, "id": "S1"}}, "status broadcast"),
    ({"messageType": "reactionMessage", "message": {"reactionMessage": {"text": "👍", "key": {"id": "X"}}}},
     "reaction"),
])
def test_irrelevant_messages_are_acknowledged_and_not_stored(rt, client, secret, change, reason):
    body = copy.deepcopy(evolution_upsert(phone(1), "Oi"))
    body["data"].update(change)
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.status_code == 200 and answer.json == {"stored": 0, "duplicates": 0, "ignored": [reason]}
    assert stored_messages(rt) == [] and queued(rt, "ingest") == []


def test_other_events_are_acknowledged_and_not_stored(rt, client, secret):
    body = {**evolution_upsert(phone(1), "Olá! Sou a Ana."), "event": "send.message"}
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.status_code == 200 and answer.json["ignored"] == ["event send.message"]
    assert stored_messages(rt) == []


def test_a_duplicate_delivery_is_200_and_does_nothing_more(rt, client, secret):
    body = evolution_upsert(phone(1), "Oi")
    client.post("/webhooks/evolution", json=body, headers=secret)
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.status_code == 200 and answer.json == {"stored": 0, "duplicates": 1, "ignored": []}
    assert len(stored_messages(rt)) == 1
    assert len(queued(rt, "ingest")) == 1


def test_a_batched_body_stores_every_message(rt, client, secret):
    first, second = evolution_upsert(phone(1), "Oi"), evolution_upsert(phone(2), "Olá")
    body = {**first, "data": [first["data"], second["data"], first["data"]]}
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.json == {"stored": 2, "duplicates": 1, "ignored": []}
    ids = [m.id for m in stored_messages(rt)]
    assert sorted(args[0] for _, args in queued(rt, "ingest")) == ids


def test_sandbox_messages_go_through_the_same_path(rt, client):
    answer = client.post("/webhooks/sandbox", json={"phone": phone(1), "text": "Oi", "id": "s-1"},
                         query_string={"secret": rt.settings.sandbox_secret})
    assert answer.status_code == 200 and answer.json["stored"] == 1
    [message] = stored_messages(rt)
    assert (message.provider, message.provider_message_id, message.channel_ref) == ("sandbox", "s-1", "sandbox")


def test_sandbox_webhook_validates_its_body(rt, client):
    answer = client.post("/webhooks/sandbox", json={"phone": "abc", "text": "Oi"},
                         query_string={"secret": rt.settings.sandbox_secret})
    assert answer.status_code == 400 and "'phone'" in answer.json["reason"]
    assert stored_messages(rt) == []


def test_sandbox_webhook_needs_its_own_secret(rt, client):
    answer = client.post("/webhooks/sandbox", json={"phone": phone(1), "text": "Oi"},
                         query_string={"secret": rt.settings.evolution.webhook_secret})
    assert answer.status_code == 401 and stored_messages(rt) == []


def test_errors_answer_json_with_a_reason(client):
    answer = client.get("/webhooks/evolution")
    assert answer.status_code == 405
    assert answer.json["error"] == "method_not_allowed" and answer.json["reason"]


def test_an_oversized_body_is_refused_before_parsing(rt, client, secret):
    from web import MAX_BODY_BYTES

    answer = client.post("/webhooks/evolution", data=b" " * (MAX_BODY_BYTES + 1),
                         headers={**secret, "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json["reason"]
    assert stored_messages(rt) == []


def test_a_media_message_is_stored_pending_and_its_resolution_enqueued(rt, client):
    body = {"phone": phone(1), "id": "s-media", "media": {"url": "http://127.0.0.1:9/a.ogg", "mime": "audio/ogg"}}
    before = counters.snapshot()
    answer = client.post("/webhooks/sandbox", json=body, query_string={"secret": rt.settings.sandbox_secret})
    assert answer.status_code == 200 and counters.since(before).sql == 1
    [message] = stored_messages(rt)
    assert (message.kind, message.media_status, message.media["url"]) == ("audio", "pending", body["media"]["url"])
    assert queued(rt, "ingest") == [("sdr.ingest", [message.id])]
    assert queued(rt, "agent") == [("sdr.media.resolve", [message.id])]


def test_a_text_message_enqueues_no_media_resolution(rt, client, secret):
    client.post("/webhooks/evolution", json=evolution_upsert(phone(1), "Oi"), headers=secret)
    assert queued(rt, "agent") == [] and stored_messages(rt)[0].media_status is None
