"""Evolution API v2: webhook bodies (real captures) into inbound events, and sendText out."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from sdr.channels.base import (
    ChipRef,
    PayloadError,
    PermanentSendError,
    TransientSendError,
)
from sdr.channels.evolution import EvolutionChannel, parse_webhook
from sdr.channels.http import AmbiguousSendError

# Real captures (reference notes §3), with masked digits filled in so the numbers are valid.
TEXT = {
    "event": "messages.upsert",
    "instance": "caldasIA",
    "data": {
        "key": {"remoteJid": "556481112345@s.whatsapp.net", "fromMe": False, "id": "782647C0073AA0039110EB72593C4AC5"},
        "pushName": "Mayssa F.",
        "status": "DELIVERY_ACK",
        "message": {
            "conversation": "Oii",
            "messageContextInfo": {
                "deviceListMetadata": {"senderKeyHash": "XKYKdjbqZ8zehQ==", "senderTimestamp": "1749746573",
                                       "recipientKeyHash": "VC3OS44aI2oaqA==", "recipientTimestamp": "1750197727"},
                "deviceListMetadataVersion": 2,
                "messageSecret": "JSnojSc0KPCLC6UuU4Eh6g+9WWDcbtDUKmJThpI8oeQ=",
            },
        },
        "messageType": "conversation",
        "messageTimestamp": 1750876007,
        "instanceId": "f86c8b02-29df-4de1-ac9d-1e8c78d7475c",
        "source": "android",
    },
    "destination": "https://api.example.invalid/webhook/baeb0df0",
    "date_time": "2025-06-25T15:26:47.781Z",
    "sender": "556492412345@s.whatsapp.net",
    "server_url": "https://evolution.example.invalid",
    "apikey": None,
}

IMAGE = {
    "event": "messages.upsert", "instance": "577e7717-a66d-11ef-88f4-42004e494300",
    "data": {
        "key": {"remoteJid": "558594112345@s.whatsapp.net", "fromMe": False, "id": "3EB025A75C7367ED422EBA"},
        "pushName": "Ivo",
        "message": {
            "imageMessage": {
                "url": "https://mmg.whatsapp.net/o1/v/t62.7118-24/f1/m234/up-oil-image?mms3=true",
                "mimetype": "image/jpeg", "fileSha256": "im9CvFA5Ps86d6KSEP9I1L8qH2cvBn08pie1DqNhfUc=",
                "fileLength": "226688", "height": 1600, "width": 1600,
                "mediaKey": "cb8tqyHM3vCfn/m1TRIiAamS9ApFPKSwe3w/qdVzD5w=",
                "directPath": "/o1/v/t62.7118-24/f1/m234/", "mediaKeyTimestamp": "1732041575",
                "jpegThumbnail": "thumblink", "caption": "Minha conta de luz de outubro",
                "contextInfo": {"disappearingMode": {"initiator": "CHANGED_IN_CHAT"}}, "viewOnce": False,
            },
            "messageContextInfo": {"deviceListMetadataVersion": 2, "messageSecret": "0xIb/"},
            "base64": "base64img",
        },
        "contextInfo": {"disappearingMode": {"initiator": "CHANGED_IN_CHAT"}},
        "messageType": "imageMessage", "messageTimestamp": 1732041577,
        "instanceId": "f890a78d-5497-486d-99f7-712111aee095", "source": "web",
    },
    "destination": "https://webhook.example.invalid/bfcd9054", "date_time": "2024-11-19T18:39:38.343Z",
    "sender": "558592012345@s.whatsapp.net", "server_url": "http://localhost:80", "apikey": None,
}

AUDIO = {
    "event": "messages.upsert", "instance": "577e7717-a66d-11ef-88f4-42004e494300",
    "data": {
        "key": {"remoteJid": "558594112345@s.whatsapp.net", "fromMe": False, "id": "3EB0B5C72FAD50804DAF26"},
        "pushName": "Ivo",
        "message": {
            "audioMessage": {
                "url": "https://mmg.whatsapp.net/v/t62.7117-24/19144390_n.enc?ccb=11-4&mms3=true",
                "mimetype": "audio/ogg; codecs=opus", "fileLength": "2881", "seconds": 2, "ptt": True,
                "mediaKey": "tDWG1TjksYj5PSphhG+SVFFAb4gCmJX4nz5ryvCLdAc=", "viewOnce": False,
            },
            "base64": "base64",
        },
        "messageType": "audioMessage", "messageTimestamp": 1732042073,
        "instanceId": "f890a78d-5497-486d-99f7-712111aee095", "source": "web",
    },
    "destination": "https://webhook.example.invalid/bfcd9054", "date_time": "2024-11-19T18:47:54.797Z",
    "sender": "558592012345@s.whatsapp.net", "server_url": "http://localhost:80", "apikey": None,
}

FROM_ME = {
    "event": "messages.upsert", "instance": "Ivo Teste",
    "data": {
        "key": {"remoteJid": "558598412345@s.whatsapp.net", "fromMe": True, "id": "3EB0742228A7FA7CB97E44"},
        "pushName": "Ivo", "status": "SERVER_ACK", "message": {"conversation": "fala doto"},
        "messageType": "conversation", "messageTimestamp": 1731071861,
        "instanceId": "abf7de57-cedb-4204-a9fd-8335717380a7", "source": "web",
    },
    "destination": "https://webhook.example.invalid/75a58d38", "date_time": "2024-11-08T13:17:41.471Z",
    "sender": "558594112345@s.whatsapp.net", "server_url": "http://localhost:8080", "apikey": None,
}


def variant(base: dict[str, Any], **data: Any) -> dict[str, Any]:
    """A copy of `base` whose `data` has some keys replaced."""
    body = copy.deepcopy(base)
    body["data"].update(data)
    return body


def only_event(payload: dict[str, Any]):
    parsed = parse_webhook(payload)
    assert len(parsed.events) == 1, parsed
    return parsed.events[0]


# -- inbound messages -------------------------------------------------------------------------------

def test_text_from_conversation_field():
    event = only_event(TEXT)
    assert (event.provider, event.channel_ref) == ("evolution", "caldasIA")
    assert event.provider_message_id == "782647C0073AA0039110EB72593C4AC5"
    assert event.lead_address == "+556481112345"
    assert (event.kind, event.text, event.profile_name) == ("text", "Oii", "Mayssa F.")
    assert event.provider_ts == datetime.fromtimestamp(1750876007, tz=timezone.utc)
    assert event.from_me is False and event.media is None


def test_text_from_extended_text_message():
    payload = variant(TEXT, messageType="extendedTextMessage",
                      message={"extendedTextMessage": {"text": "Vi o anúncio: https://solforte.example"}})
    event = only_event(payload)
    assert (event.kind, event.text) == ("text", "Vi o anúncio: https://solforte.example")


def test_image_keeps_caption_and_media_reference():
    event = only_event(IMAGE)
    assert event.kind == "image"
    assert event.text == "Minha conta de luz de outubro"
    # the CDN url is encrypted (.enc): the inline base64 and the key id locate the bytes instead
    assert event.media["mime"] == "image/jpeg" and "url" not in event.media
    assert event.media["base64"] == "base64img" and event.media["provider_media_id"] == "3EB025A75C7367ED422EBA"
    assert event.media["size"] == 226688 and event.media["caption"] == "Minha conta de luz de outubro"
    assert event.media["sha256"] == "im9CvFA5Ps86d6KSEP9I1L8qH2cvBn08pie1DqNhfUc=" and event.media["voice"] is False
    assert event.lead_address == "+558594112345" and event.profile_name == "Ivo"


def test_image_without_caption_has_no_text():
    payload = copy.deepcopy(IMAGE)
    del payload["data"]["message"]["imageMessage"]["caption"]
    event = only_event(payload)
    assert (event.kind, event.text) == ("image", None)


def test_voice_note_is_audio_without_text():
    event = only_event(AUDIO)
    assert (event.kind, event.text) == ("audio", None)
    assert event.media["mime"] == "audio/ogg; codecs=opus" and event.media["voice"] is True
    assert event.provider_message_id == "3EB0B5C72FAD50804DAF26"


def test_voice_note_uses_the_providers_transcript_when_present():
    payload = copy.deepcopy(AUDIO)
    payload["data"]["message"]["speechToText"] = "[audio] quero um orçamento"
    assert only_event(payload).text == "[audio] quero um orçamento"


def test_from_me_is_a_person_on_the_business_phone():
    event = only_event(FROM_ME)
    assert event.from_me is True
    assert event.text == "fala doto"
    assert event.lead_address == "+558598412345"  # the chat's other party, not the business
    assert event.profile_name is None  # pushName is the business's own name here
    assert event.channel_ref == "Ivo Teste"


def test_lid_with_alternate_jid_resolves_to_the_phone():
    payload = variant(TEXT, key={"remoteJid": "116909060165867@lid", "remoteJidAlt": "559870112345@s.whatsapp.net",
                                 "addressingMode": "lid", "fromMe": False, "id": "LID1"})
    assert only_event(payload).lead_address == "+559870112345"


def test_lid_without_alternate_is_kept_as_an_opaque_identity():
    payload = variant(TEXT, key={"remoteJid": "116909060165867@lid", "addressingMode": "lid", "fromMe": False,
                                 "id": "LID2"})
    assert only_event(payload).lead_address == "lid:116909060165867"


@pytest.mark.parametrize("jid, reason", [
    ("120363025246125486@g.us", "group"),
    ("status@broadcast", "status broadcast"),
    ("120363170000000000@newsletter", "newsletter"),
])
def test_non_personal_chats_are_ignored(jid, reason):
    payload = variant(TEXT, key={"remoteJid": jid, "fromMe": False, "id": "X1", "participant": "5511@s.whatsapp.net"})
    parsed = parse_webhook(payload)
    assert parsed.events == [] and parsed.ignored == [reason]


@pytest.mark.parametrize("event", ["send.message", "connection.update", "SEND_MESSAGE", "contacts.upsert"])
def test_other_events_are_ignored(event):
    parsed = parse_webhook({**copy.deepcopy(TEXT), "event": event})
    assert parsed.events == []
    assert parsed.ignored == [f"event {event}"]


def test_upper_case_event_names_are_accepted():
    assert len(parse_webhook({**copy.deepcopy(TEXT), "event": "MESSAGES_UPSERT"}).events) == 1


def test_reactions_are_ignored():
    payload = variant(TEXT, messageType="reactionMessage",
                      message={"reactionMessage": {"key": {"id": "782647C0"}, "text": "👍"}})
    parsed = parse_webhook(payload)
    assert parsed.events == [] and parsed.ignored == ["reaction"]


def test_batched_data_yields_every_item():
    first, group, second = (copy.deepcopy(TEXT["data"]) for _ in range(3))
    second["key"] = {**second["key"], "id": "SECOND", "remoteJid": "5511987654321@s.whatsapp.net"}
    second["message"] = {"conversation": "segunda"}
    group["key"] = {**group["key"], "remoteJid": "120363025246125486@g.us", "id": "G"}
    parsed = parse_webhook({**copy.deepcopy(TEXT), "data": [first, group, second]})
    assert [e.provider_message_id for e in parsed.events] == ["782647C0073AA0039110EB72593C4AC5", "SECOND"]
    assert [e.text for e in parsed.events] == ["Oii", "segunda"]
    assert parsed.events[1].lead_address == "+5511987654321"
    assert parsed.ignored == ["group"]


@pytest.mark.parametrize("value", [1750876007, "1750876007", {"low": 1750876007, "high": 0, "unsigned": False}])
def test_timestamp_forms(value):
    event = only_event(variant(TEXT, messageTimestamp=value))
    assert event.provider_ts == datetime(2025, 6, 25, 18, 26, 47, tzinfo=timezone.utc)


def test_unreadable_timestamp_is_dropped_not_fatal():
    assert only_event(variant(TEXT, messageTimestamp="yesterday")).provider_ts is None


# -- malformed bodies -----------------------------------------------------------------------------

def _malformed() -> list[tuple[Any, str]]:
    no_key = copy.deepcopy(TEXT)
    del no_key["data"]["key"]
    no_id = variant(TEXT, key={"remoteJid": "556481112345@s.whatsapp.net", "fromMe": False})
    bad_jid = variant(TEXT, key={"remoteJid": "abc@s.whatsapp.net", "fromMe": False, "id": "B1"})
    no_instance = {k: v for k, v in copy.deepcopy(TEXT).items() if k != "instance"}
    return [
        ([TEXT], "JSON object"),
        ("messages.upsert", "JSON object"),
        ({"instance": "x", "data": {}}, "event"),
        (no_instance, "instance"),
        ({**copy.deepcopy(TEXT), "data": None}, "data.key"),
        ({**copy.deepcopy(TEXT), "data": ["not an object"]}, "data.key"),
        (no_key, "data.key"),
        (no_id, "data.key.id"),
        (bad_jid, "remoteJid"),
    ]


@pytest.mark.parametrize("payload, reason", _malformed())
def test_malformed_bodies_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(PayloadError, match=reason.replace(".", r"\.")):
        parse_webhook(payload)


@pytest.mark.parametrize("data", [
    {"messageType": "extendedTextMessage", "message": {"extendedTextMessage": "Oi"}},
    {"messageType": "documentWithCaptionMessage", "message": {"documentWithCaptionMessage": {"message": "x"}}},
    {"messageType": 7, "message": {}},
], ids=["extended-text-not-object", "wrapped-document-not-object", "message-type-not-string"])
def test_malformed_message_content_is_a_payload_error(data):
    """A body of the wrong shape is bad input (a 400 with a reason), never a crash."""
    with pytest.raises(PayloadError):
        parse_webhook(variant(TEXT, **data))


# -- sending --------------------------------------------------------------------------------------

def channel(evolution, api_key: str | None = None, read_timeout: float = 5.0) -> EvolutionChannel:
    return EvolutionChannel(evolution.url, api_key or evolution.options["api_key"], (2.0, read_timeout))


CHIP = ChipRef(1, "evolution", "sdr-test")


def test_send_text_posts_digits_and_returns_the_provider_id(evolution):
    receipt = channel(evolution).send_text(CHIP, "+5511987654321", "Olá! Sou a Ana.")
    sent = evolution.sent()
    assert [(s["instance"], s["number"], s["text"]) for s in sent] == [("sdr-test", "5511987654321", "Olá! Sou a Ana.")]
    assert receipt.provider_message_id == sent[0]["message_id"]


def test_send_to_a_lid_address_uses_the_lid_jid(evolution):
    channel(evolution).send_text(CHIP, "lid:116909060165867", "Oi")
    assert evolution.sent()[0]["number"] == "116909060165867@lid"


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_provider_errors_that_did_not_take_the_message_are_transient(evolution, status):
    evolution.configure(fail_next=[status])
    with pytest.raises(TransientSendError) as raised:
        channel(evolution).send_text(CHIP, "+5511987654321", "Oi")
    assert raised.value.status == status


def test_refused_number_is_permanent(evolution):
    evolution.configure(not_on_whatsapp=["5511987654321"])
    with pytest.raises(PermanentSendError) as raised:
        channel(evolution).send_text(CHIP, "+5511987654321", "Oi")
    assert raised.value.status == 400
    assert "5511987654321" not in str(raised.value)  # error text is scrubbed of phone numbers


def test_wrong_api_key_is_permanent(evolution):
    with pytest.raises(PermanentSendError) as raised:
        channel(evolution, api_key="wrong-key").send_text(CHIP, "+5511987654321", "Oi")
    assert raised.value.status == 401


def test_unreachable_provider_is_transient():
    closed = EvolutionChannel("http://127.0.0.1:1", "k", (1.0, 1.0))
    with pytest.raises(TransientSendError, match="unreachable"):
        closed.send_text(CHIP, "+5511987654321", "Oi")


def test_read_timeout_is_ambiguous_not_transient(evolution):
    evolution.configure(hang_next=1)
    with pytest.raises(AmbiguousSendError):
        channel(evolution, read_timeout=0.3).send_text(CHIP, "+5511987654321", "Oi")
    assert len(evolution.requests("sendText")) == 1
