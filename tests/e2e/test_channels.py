"""Every channel end to end through the real processes: a lead writes through the provider's real
webhook (Z-API with its shared secret, Twilio form-encoded and signed, Evolution), the reply leaves
through that provider's stand-in from the conversation's chip, and the provider's status callbacks
(sent on demand by the stand-in, in the real format) move the sent message forward, read-before-
delivered included. A person typing on the business phone through Z-API pauses the bot.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlencode

import requests

from sdr.signatures import twilio_signature
from tests.conftest import TWILIO_FROM, TWILIO_TOKEN, ZAPI_INSTANCE
from tests.e2e.helpers import REPLY_TIMEOUT, lead_says, scalar, settle, sql, wait_conversation, wait_for_sends
from tests.factories import phone
from tests.fleet import wait_until
from tests.sdr.channels.test_zapi import TEXT as ZAPI_TEXT


def zapi_message(lead: str, text: str, message_id: str, **changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(ZAPI_TEXT)
    body.update(instanceId=ZAPI_INSTANCE, messageId=message_id, phone=lead.lstrip("+"), text={"message": text},
                senderName="Paula", **changes)
    return body


def post_zapi(e2e, body: dict[str, Any]) -> requests.Response:
    return e2e.post("/webhooks/zapi", json=body, params={"secret": e2e.env["ZAPI_WEBHOOK_SECRET"]})


def post_twilio(e2e, form: list[tuple[str, str]]) -> requests.Response:
    url = e2e.url + "/webhooks/twilio"
    return e2e.post("/webhooks/twilio", data=urlencode(form), headers={
        "X-Twilio-Signature": twilio_signature(TWILIO_TOKEN, url, form),
        "Content-Type": "application/x-www-form-urlencoded"})


def sent_message_status(settings, provider_message_id: str) -> str | None:
    return scalar(settings, "SELECT m.status FROM outbox o JOIN messages m ON m.id = o.message_id "
                            "WHERE o.provider_message_id = :p", p=provider_message_id)


def wait_status(settings, provider_message_id: str, status: str) -> None:
    wait_until(lambda: sent_message_status(settings, provider_message_id) == status, REPLY_TIMEOUT, 0.2,
               f"message {provider_message_id} to be {status}")


def test_zapi_lead_gets_a_reply_through_zapi_and_statuses_come_back(e2e, settings, zapi):
    lead = phone(701)
    answer = post_zapi(e2e, zapi_message(lead, "Oi! Vi o anúncio de energia solar", "3EB0Z701"))
    assert answer.status_code == 200 and answer.json()["stored"] == 1
    reply = wait_until(lambda: [s for s in zapi.sent() if s["phone"] == lead.lstrip("+")], REPLY_TIMEOUT, 0.2,
                       "a reply through Z-API")
    assert len(reply) == 1 and reply[0]["instance"] == ZAPI_INSTANCE and reply[0]["message"]
    conversation = wait_conversation(settings, lead)
    assert scalar(settings, "SELECT provider FROM chips WHERE id = :c", c=conversation.chip_id) == "zapi"
    message_id = reply[0]["message_id"]
    wait_status(settings, message_id, "sent")

    callback = e2e.url + "/webhooks/zapi?secret=" + e2e.env["ZAPI_WEBHOOK_SECRET"]
    for status in ("READ", "RECEIVED"):  # read arrives before delivered
        done = requests.post(zapi.url + "/_control/status_callback", timeout=10, json={
            "url": callback, "ids": [message_id], "status": status, "phone": lead.lstrip("+"),
            "instance": ZAPI_INSTANCE})
        assert done.json()["status"] == 200
    wait_status(settings, message_id, "read")
    settle(e2e, extra=1)
    assert sent_message_status(settings, message_id) == "read"
    assert len([s for s in zapi.sent() if s["phone"] == lead.lstrip("+")]) == 1


def test_a_person_typing_on_the_business_phone_via_zapi_pauses_the_bot(e2e, settings, zapi):
    lead = phone(702)
    human = zapi_message(lead, "Oi Paula, aqui é o Marcos da Sol Forte", "3EB0H702", fromMe=True, fromApi=False)
    assert post_zapi(e2e, human).json()["stored"] == 1
    wait_conversation(settings, lead, status="paused")
    assert post_zapi(e2e, zapi_message(lead, "Oi Marcos! Quanto fica?", "3EB0L702")).json()["stored"] == 1
    settle(e2e, extra=2)
    assert [s for s in zapi.sent() if s["phone"] == lead.lstrip("+")] == []
    assert scalar(settings, "SELECT count(*) FROM turns") == 0


def test_twilio_lead_gets_a_reply_through_twilio_and_a_signed_status_callback_lands(e2e, settings, twilio):
    lead = phone(703)
    form = [("SmsMessageSid", "SM" + "7" * 32), ("NumMedia", "0"), ("ProfileName", "Jhonata"),
            ("SmsSid", "SM" + "7" * 32), ("WaId", lead.lstrip("+")), ("SmsStatus", "received"),
            ("Body", "Olá, quanto custa um sistema de 5 kWp?"), ("To", "whatsapp:" + TWILIO_FROM),
            ("NumSegments", "1"), ("ReferralNumMedia", "0"), ("MessageSid", "SM" + "7" * 32),
            ("AccountSid", e2e.env["TWILIO_ACCOUNT_SID"]), ("From", "whatsapp:" + lead), ("ApiVersion", "2010-04-01")]
    answer = post_twilio(e2e, form)
    assert answer.status_code == 200 and "<Response>" in answer.text
    tampered = e2e.post("/webhooks/twilio", data=urlencode(form), headers={
        "X-Twilio-Signature": twilio_signature("not-the-token", e2e.url + "/webhooks/twilio", form),
        "Content-Type": "application/x-www-form-urlencoded"})
    assert tampered.status_code == 403
    assert len(sql(settings, "SELECT id FROM messages WHERE provider_message_id = :p", p="SM" + "7" * 32)) == 1

    reply = wait_until(lambda: [s for s in twilio.sent() if s["to"] == "whatsapp:" + lead], REPLY_TIMEOUT, 0.2,
                       "a reply through Twilio")
    assert len(reply) == 1 and reply[0]["from"] == "whatsapp:" + TWILIO_FROM
    sid = reply[0]["sid"]
    wait_status(settings, sid, "sent")
    for status in ("read", "delivered", "sent"):  # out of order, as Twilio warns
        done = requests.post(twilio.url + "/_control/status_callback", timeout=10,
                             json={"sid": sid, "status": status, "url": e2e.url + "/webhooks/twilio"})
        assert done.json()["status"] == 200, done.json()
    wait_status(settings, sid, "read")
    assert len(sql(settings, "SELECT id FROM message_statuses WHERE provider_message_id = :p", p=sid)) == 3


def test_evolution_reply_and_message_update_statuses(e2e, settings, evolution):
    lead = phone(704)
    lead_says(e2e, lead, "Boa tarde, vocês atendem em Campinas?")
    [reply] = wait_for_sends(evolution, lead, 1)
    [sent] = [s for s in evolution.sent() if s["text"] == reply and s["number"] == lead.lstrip("+")]
    message_id = sent["message_id"]
    wait_status(settings, message_id, "sent")
    body = {"event": "messages.update", "instance": "sdr-test", "data": {
        "keyId": message_id, "remoteJid": lead.lstrip("+") + "@s.whatsapp.net", "fromMe": True, "status": "READ"}}
    answer = e2e.evolution(body)
    assert answer.json()["statuses"] == 1
    assert sent_message_status(settings, message_id) == "read"
