"""Z-API and Twilio webhooks: authenticity first (shared secret; X-Twilio-Signature with ports and
proxies), then parse, store once with context, enqueue; statuses go through the same door."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlencode

import pytest

from sdr.accounting import counters
from sdr.channels.base import InboundEvent, ParsedWebhook
from sdr.settings import TwilioConfig, ZapiConfig
from sdr.signatures import twilio_signature
from tests.factories import rows
from tests.sdr.channels.test_twilio import BUTTON, TEXT as TWILIO_TEXT
from tests.sdr.channels.test_zapi import FROM_API, TEXT as ZAPI_TEXT
from tests.web.conftest import make_app, queued

TOKEN = "twilio-auth-token-for-tests"
ZAPI_SECRET = "zapi-secret-for-tests"


@pytest.fixture()
def channel_settings(rt):
    return dataclasses.replace(
        rt.settings,
        zapi=ZapiConfig("http://127.0.0.1:9", "A20DA9C0183A2D35A260F53F5D2B9244", "tok", "", ZAPI_SECRET),
        twilio=TwilioConfig("http://127.0.0.1:9", "ACccec30b8f64bfa44a6dc60d2a447f5c5", TOKEN, "+14155238886", None))


@pytest.fixture()
def client(channel_settings):
    return make_app(channel_settings).test_client()


def stored(rt) -> list:
    with rt.sessions() as session:
        return rows(session, "SELECT * FROM messages ORDER BY id")


def post_twilio(client, params, *, url="http://localhost/webhooks/twilio", signature=None, headers=None,
                path="/webhooks/twilio", **kwargs):
    items = list(params.items()) if isinstance(params, dict) else params
    given = signature if signature is not None else twilio_signature(TOKEN, url, items)
    return client.post(path, data=urlencode(items), headers={
        "X-Twilio-Signature": given, "Content-Type": "application/x-www-form-urlencoded", **(headers or {})}, **kwargs)


# -- Twilio ------------------------------------------------------------------------------------------

def test_a_signed_twilio_message_is_stored_and_answered_with_empty_twiml(rt, client):
    answer = post_twilio(client, dict(parse_qsl(TWILIO_TEXT, keep_blank_values=True)))
    assert answer.status_code == 200 and answer.content_type.startswith("text/xml")
    assert answer.get_data(as_text=True).endswith("<Response></Response>")
    [message] = stored(rt)
    assert (message.provider, message.provider_message_id, message.lead_address, message.channel_ref, message.text) \
        == ("twilio", "SM01cd3925943ee3504f8a5c42d88efdf6", "+558282136275", "+14155238886", "Olá")
    assert queued(rt, "ingest") == [("sdr.ingest", [message.id])]


def test_button_context_is_stored_on_the_message(rt, client):
    assert post_twilio(client, BUTTON).status_code == 200
    [message] = stored(rt)
    assert message.kind == "button" and message.context == {"quoted_id": "MM0deda00296b0e4abc18c2352f270817f",
                                                            "button_id": "قبول الدعوة"}


def test_signature_over_the_url_with_the_default_port_is_accepted(rt, client):
    params = dict(parse_qsl(TWILIO_TEXT, keep_blank_values=True))
    assert post_twilio(client, params, url="http://localhost:80/webhooks/twilio").status_code == 200


def test_query_string_is_part_of_the_signed_url(rt, client):
    params = dict(parse_qsl(TWILIO_TEXT, keep_blank_values=True))
    answer = post_twilio(client, params, url="http://localhost/webhooks/twilio?chip=1", path="/webhooks/twilio",
                         query_string={"chip": "1"})
    assert answer.status_code == 200
    other = {**params, "MessageSid": "SMother", "SmsSid": "SMother", "SmsMessageSid": "SMother"}
    assert post_twilio(client, other, path="/webhooks/twilio", query_string={"chip": "1"}).status_code == 403


@pytest.mark.parametrize("signature, status", [("", 401), ("not-a-signature", 401),
                                               ("RSOYDt4T1cUTdK1PDd93/VVr8B8=", 403)])
def test_bad_signatures_store_nothing(rt, client, signature, status):
    answer = post_twilio(client, dict(parse_qsl(TWILIO_TEXT, keep_blank_values=True)), signature=signature)
    assert answer.status_code == status and answer.json["reason"]
    assert stored(rt) == [] and queued(rt, "ingest") == []


def test_a_tampered_body_fails_the_signature(rt, client):
    params = dict(parse_qsl(TWILIO_TEXT, keep_blank_values=True))
    signature = twilio_signature(TOKEN, "http://localhost/webhooks/twilio", list(params.items()))
    answer = post_twilio(client, {**params, "Body": "Olá, mudei"}, signature=signature)
    assert answer.status_code == 403 and stored(rt) == []


def test_behind_a_proxy_the_forwarded_url_is_checked_only_when_trusted(rt, channel_settings):
    params = dict(parse_qsl(TWILIO_TEXT, keep_blank_values=True))
    public = "https://sdr.example.com/webhooks/twilio"
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sdr.example.com"}
    untrusting = make_app(channel_settings).test_client()
    assert post_twilio(untrusting, params, url=public, headers=forwarded).status_code == 403
    trusting = make_app(dataclasses.replace(channel_settings, trust_forwarded=True)).test_client()
    assert post_twilio(trusting, params, url=public, headers=forwarded).status_code == 200
    assert len(stored(rt)) == 1


def test_a_twilio_status_callback_is_acknowledged_without_storing_a_message(rt, client):
    params = {"MessageSid": "SMunknown", "MessageStatus": "delivered", "SmsStatus": "delivered",
              "From": "whatsapp:+14155238886", "To": "whatsapp:+558282136275", "AccountSid": "ACx"}
    answer = post_twilio(client, params)
    assert answer.status_code == 200 and stored(rt) == []


# -- Z-API -------------------------------------------------------------------------------------------

def test_a_zapi_message_with_the_secret_in_the_query_is_stored(rt, client):
    answer = client.post("/webhooks/zapi", json=ZAPI_TEXT, query_string={"secret": ZAPI_SECRET})
    assert answer.status_code == 200 and answer.json == {"stored": 1, "duplicates": 0, "ignored": []}
    [message] = stored(rt)
    assert (message.provider, message.lead_address, message.text, message.author) == (
        "zapi", "+5544999999999", "teste", "lead")


def test_zapi_secret_in_the_header_and_wrong_secrets(rt, client):
    assert client.post("/webhooks/zapi", json=ZAPI_TEXT, headers={"X-Webhook-Secret": ZAPI_SECRET}).status_code == 200
    for credentials in ({"query_string": {"secret": "wrong"}}, {"headers": {"X-Webhook-Secret": "wrong"}}, {},
                        {"query_string": {"secret": rt.settings.evolution.webhook_secret}}):
        answer = client.post("/webhooks/zapi", json={**ZAPI_TEXT, "messageId": "OTHER"}, **credentials)
        assert answer.status_code == 401
    assert len(stored(rt)) == 1


def test_zapi_human_typing_is_stored_as_human_and_api_echo_is_ignored(rt, client):
    echo = client.post("/webhooks/zapi", json=FROM_API, query_string={"secret": ZAPI_SECRET})
    assert echo.json == {"stored": 0, "duplicates": 0, "ignored": ["own API send"]}
    human = client.post("/webhooks/zapi", json={**FROM_API, "fromApi": False}, query_string={"secret": ZAPI_SECRET})
    assert human.json["stored"] == 1
    [message] = stored(rt)
    assert (message.author, message.direction) == ("human", "out")


def test_a_zapi_body_is_written_with_one_statement(rt, client):
    client.post("/webhooks/zapi", json={**ZAPI_TEXT, "messageId": "WARM"}, query_string={"secret": ZAPI_SECRET})
    before = counters.snapshot()
    assert client.post("/webhooks/zapi", json=ZAPI_TEXT, query_string={"secret": ZAPI_SECRET}).status_code == 200
    assert counters.since(before).sql == 1
    before = counters.snapshot()
    status = {"status": "READ", "ids": ["X1", "X2"], "type": "MessageStatusCallback", "instanceId": "A"}
    answer = client.post("/webhooks/zapi", json=status, query_string={"secret": ZAPI_SECRET})
    assert answer.json == {"stored": 0, "duplicates": 0, "ignored": [], "statuses": 0}
    assert counters.since(before).sql == 1


def test_malformed_zapi_bodies_are_400(rt, client):
    answer = client.post("/webhooks/zapi", json={"phone": "1"}, query_string={"secret": ZAPI_SECRET})
    assert answer.status_code == 400 and answer.json["reason"] == "missing 'type'"
    assert stored(rt) == []


# -- the shared door ----------------------------------------------------------------------------------

def test_accept_parsed_stores_and_enqueues_for_any_provider(rt, channel_settings):
    from web.webhooks import accept_parsed

    event = InboundEvent(provider="meta", channel_ref="1234567890", provider_message_id="wamid.X",
                         lead_address="+5511987654321", kind="text", text="Oi", context={"referral": {"x": 1}})
    app = make_app(channel_settings)
    with app.test_request_context():
        response, status = accept_parsed("meta", ParsedWebhook(events=[event, event]))
    assert status == 200 and response.json == {"stored": 1, "duplicates": 1, "ignored": []}
    [message] = stored(rt)
    assert (message.provider, message.context) == ("meta", {"referral": {"x": 1}})
    assert queued(rt, "ingest") == [("sdr.ingest", [message.id])]


def test_status_reports_through_the_webhook_move_our_message_forward(rt, client):
    from tests.sdr.test_statuses import sent_part, state

    pmid = sent_part(rt)
    body = {"event": "messages.update", "instance": "sdr-test", "data": [
        {"keyId": pmid, "fromMe": True, "status": "READ"}, {"keyId": pmid, "fromMe": True, "status": "DELIVERY_ACK"}]}
    secret = {"X-Webhook-Secret": rt.settings.evolution.webhook_secret}
    answer = client.post("/webhooks/evolution", json=body, headers=secret)
    assert answer.json == {"stored": 0, "duplicates": 0, "ignored": [], "statuses": 1}
    assert state(rt, pmid).message == "read"
    again = client.post("/webhooks/evolution", json=body, headers=secret)
    assert again.json["statuses"] == 0 and state(rt, pmid).message == "read"
