"""Z-API: every webhook example of the reference notes (§4.1) and its variants parse to the right event."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from typing import Any

import pytest

from sdr.channels.base import PayloadError
from sdr.channels.zapi import parse_webhook

# Official "on-message-received" text example (reference §4.1), verbatim.
TEXT = {
    "isStatusReply": False, "senderLid": "81896604192873@lid", "connectedPhone": "554499999999",
    "waitingMessage": False, "isEdit": False, "isGroup": False, "isNewsletter": False,
    "instanceId": "A20DA9C0183A2D35A260F53F5D2B9244", "messageId": "A20DA9C0183A2D35A260F53F5D2B9244",
    "phone": "5544999999999", "fromMe": False, "momment": 1632228638000, "status": "RECEIVED",
    "chatName": "name", "senderPhoto": "https://", "senderName": "name", "participantPhone": None,
    "participantLid": None, "photo": "https://", "broadcast": False, "type": "ReceivedCallback",
    "text": {"message": "teste"},
}
COMMON = {k: v for k, v in TEXT.items() if k != "text"}
IMAGE = {**COMMON, "fromMe": False, "momment": 1632228828000, "status": "RECEIVED", "type": "ReceivedCallback",
         "image": {"mimeType": "image/jpeg", "imageUrl": "https://", "thumbnailUrl": "https://", "caption": ""}}
AUDIO = {**COMMON, "fromMe": False, "momment": 1632228849000, "status": "RECEIVED", "type": "ReceivedCallback",
         "audio": {"audioUrl": "https://", "mimeType": "audio/ogg; codecs=opus"}}
# Captured audio sub-object shape (reference §4.1).
AUDIO_CAPTURED = {**AUDIO, "audio": {"ptt": True, "seconds": 7, "audioUrl": "https://f.z-api.io/a.ogg",
                                     "mimeType": "audio/ogg; codecs=opus", "viewOnce": False}}
# The real `fromMe` payload of the notes: sent through the API (the bot itself).
FROM_API = {
    "isStatusReply": False, "chatLid": "272455595733154@lid", "connectedPhone": "553199912345",
    "waitingMessage": False, "isEdit": False, "isGroup": False, "isNewsletter": False,
    "instanceId": "3E4F7360B552F0C2DBCB9E6774402775", "messageId": "3EB0EE5C811ACA0277C307",
    "phone": "553195512345", "fromMe": True, "momment": 1754011529000, "status": "SENT",
    "chatName": "Kaike", "senderPhoto": None, "senderName": "Juliana",
    "photo": "https://pps.whatsapp.net/v/t61.24694-24/x.jpg", "broadcast": False, "participantLid": None,
    "messageExpirationSeconds": 7776000, "forwarded": False, "type": "ReceivedCallback", "fromApi": True,
    "text": {"message": "Desculpe, houve um erro interno. Nosso atendimento entrará em contato."},
}


def variant(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(base), **changes}


def only_event(payload: dict[str, Any]):
    parsed = parse_webhook(payload)
    assert parsed.statuses == [] and parsed.ignored == [], parsed.ignored
    [event] = parsed.events
    return event


def test_official_text_example():
    event = only_event(TEXT)
    assert (event.provider, event.channel_ref) == ("zapi", "A20DA9C0183A2D35A260F53F5D2B9244")
    assert event.provider_message_id == "A20DA9C0183A2D35A260F53F5D2B9244"
    assert (event.lead_address, event.kind, event.text, event.profile_name) == ("+5544999999999", "text", "teste",
                                                                                "name")
    assert event.provider_ts == datetime.fromtimestamp(1632228638, tz=timezone.utc)  # momment is milliseconds
    assert event.from_me is False and event.media is None and event.context is None


def test_official_image_example_has_a_media_url_and_no_text():
    event = only_event(IMAGE)
    assert (event.kind, event.text) == ("image", None)
    assert event.media == {"mime": "image/jpeg", "url": "https://", "voice": False}


def test_image_caption_is_the_text():
    payload = variant(IMAGE, image={**IMAGE["image"], "caption": "minha conta de luz"})
    event = only_event(payload)
    assert event.text == "minha conta de luz" and event.media["caption"] == "minha conta de luz"


def test_official_audio_example():
    event = only_event(AUDIO)
    assert (event.kind, event.text) == ("audio", None)
    assert event.media == {"mime": "audio/ogg; codecs=opus", "url": "https://", "voice": False}


def test_captured_voice_note_is_flagged_as_voice():
    event = only_event(AUDIO_CAPTURED)
    assert event.kind == "audio" and event.media["voice"] is True
    assert event.media["url"] == "https://f.z-api.io/a.ogg"


def test_an_api_send_echo_is_ignored():
    parsed = parse_webhook(FROM_API)
    assert parsed.events == [] and parsed.ignored == ["own API send"]


def test_a_human_typing_on_the_business_phone_is_from_me():
    event = only_event(variant(FROM_API, fromApi=False, text={"message": "Oi, aqui é a Juliana"}))
    assert event.from_me is True and event.text == "Oi, aqui é a Juliana"
    assert event.lead_address == "+553195512345"  # the chat's other party
    assert event.profile_name is None  # senderName is the business's own here


def test_from_me_without_from_api_field_counts_as_human():
    payload = variant(FROM_API)
    del payload["fromApi"]
    assert only_event(payload).from_me is True


@pytest.mark.parametrize("change, reason", [
    ({"isGroup": True, "phone": "120363019502650977-group", "participantPhone": "5544999999999"}, "group"),
    ({"phone": "120363019502650977-group"}, "group"),
    ({"isNewsletter": True}, "newsletter"),
    ({"broadcast": True}, "status broadcast"),
    ({"isStatusReply": True}, "status reply"),
    ({"isEdit": True}, "edit"),
    ({"waitingMessage": True}, "waiting for content"),
    ({"reaction": {"value": "👍", "time": 1, "referencedMessage": {"messageId": "X"}}}, "reaction"),
    ({"pollVote": {"pollMessageId": "P", "options": [{"name": "sim"}]}}, "poll vote"),
    ({"notification": "CALL_VOICE"}, "notification"),
])
def test_irrelevant_messages_are_ignored_politely(change, reason):
    payload = variant(TEXT, **change)
    if reason in ("reaction", "poll vote", "notification"):
        del payload["text"]
    parsed = parse_webhook(payload)
    assert parsed.events == [] and parsed.ignored == [reason]


@pytest.mark.parametrize("kind", ["PresenceChatCallback", "DisconnectedCallback", "ConnectedCallback"])
def test_other_callbacks_are_ignored(kind):
    parsed = parse_webhook({"type": kind, "instanceId": "A20D", "status": "COMPOSING"})
    assert parsed.events == [] and parsed.ignored == [f"event {kind}"]


def test_video_document_and_sticker():
    video = only_event(variant(TEXT, text=None, video={"videoUrl": "https://v", "caption": "olha",
                                                       "mimeType": "video/mp4"}))
    assert (video.kind, video.text, video.media["url"]) == ("video", "olha", "https://v")
    document = only_event(variant(TEXT, text=None, document={"documentUrl": "https://d", "mimeType": "application/pdf",
                                                             "title": "conta", "pageCount": 2,
                                                             "fileName": "conta.pdf"}))
    assert (document.kind, document.text, document.media["filename"]) == ("document", "conta.pdf", "conta.pdf")
    sticker = only_event(variant(TEXT, text=None, sticker={"stickerUrl": "https://s", "mimeType": "image/webp"}))
    assert (sticker.kind, sticker.text, sticker.media["mime"]) == ("sticker", None, "image/webp")


def test_location_reads_as_text_with_coordinates():
    event = only_event(variant(TEXT, text=None, location={"longitude": -46.63, "latitude": -23.55,
                                                          "address": "Av. Paulista, 1000", "url": ""}))
    assert event.kind == "location"
    assert event.text == "[localização] Av. Paulista, 1000 (-23.55, -46.63)"


def test_contact_reads_as_names_and_phones():
    vcard = ("BEGIN:VCARD\nVERSION:3.0\nFN:João Instalador\nTEL;type=CELL;waid=5511988887777:+55 11 98888-7777\n"
             "END:VCARD")
    event = only_event(variant(TEXT, text=None, contact={"displayName": "João Instalador", "vCard": vcard,
                                                         "phones": ["5511988887777"]}))
    assert (event.kind, event.text) == ("contacts", "[contato] João Instalador: 5511988887777")
    from_vcard = only_event(variant(TEXT, text=None, contact={"displayName": "João", "vCard": vcard}))
    assert from_vcard.text == "[contato] João: +5511988887777"


def test_button_and_list_replies_carry_their_ids():
    button = only_event(variant(TEXT, text=None, buttonsResponseMessage={"buttonId": "quero-orcamento",
                                                                         "message": "Quero um orçamento"}))
    assert (button.kind, button.text, button.context) == ("button", "Quero um orçamento",
                                                          {"button_id": "quero-orcamento"})
    chosen = only_event(variant(TEXT, text=None, listResponseMessage={"message": "Escolha", "title": "Residencial",
                                                                      "selectedRowId": "res"}))
    assert (chosen.kind, chosen.text, chosen.context) == ("list", "Residencial", {"list_id": "res"})


def test_a_quoted_reply_and_an_ad_referral_travel_in_context():
    payload = variant(TEXT, referenceMessageId="3EB0AAAA", text={"message": "Quero saber mais",
                                                                 "title": "Energia solar", "url": "https://ad"},
                      externalAdReply={"title": "Energia solar sem entrada", "body": "Economize 95%",
                                       "sourceType": "ad", "sourceId": "120210", "sourceUrl": "https://fb.me/ad"})
    event = only_event(payload)
    assert event.context == {"quoted_id": "3EB0AAAA", "referral": {
        "source_url": "https://fb.me/ad", "source_id": "120210", "source_type": "ad",
        "headline": "Energia solar sem entrada", "body": "Economize 95%"}}


def test_a_lid_only_sender_keeps_its_lid():
    event = only_event(variant(TEXT, phone="81896604192873@lid"))
    assert event.lead_address == "lid:81896604192873"


def test_message_status_callback_yields_one_status_per_id():
    parsed = parse_webhook({"status": "READ", "ids": ["3EB0AA", "3EB0BB"], "momment": 1632228925000,
                            "phone": "5544999999999", "type": "MessageStatusCallback", "instanceId": "A20D"})
    assert [(s.provider, s.provider_message_id, s.status) for s in parsed.statuses] == [
        ("zapi", "3EB0AA", "read"), ("zapi", "3EB0BB", "read")]
    assert parsed.statuses[0].at == datetime.fromtimestamp(1632228925, tz=timezone.utc)


@pytest.mark.parametrize("raw, status", [("SENT", "sent"), ("RECEIVED", "delivered"), ("READ", "read"),
                                         ("PLAYED", "read")])
def test_status_names(raw, status):
    parsed = parse_webhook({"status": raw, "ids": ["X"], "type": "MessageStatusCallback", "instanceId": "A"})
    assert [s.status for s in parsed.statuses] == [status]


def test_read_by_me_is_not_about_our_message():
    parsed = parse_webhook({"status": "READ_BY_ME", "ids": ["X"], "type": "MessageStatusCallback"})
    assert parsed.statuses == [] and parsed.ignored == ["status READ_BY_ME"]


def test_delivery_callback_is_sent_or_failed():
    ok = parse_webhook({"phone": "5544999999999", "zaapId": "Z1", "messageId": "M1", "type": "DeliveryCallback",
                        "instanceId": "A"})
    assert [(s.provider_message_id, s.status) for s in ok.statuses] == [("M1", "sent")]
    failed = parse_webhook({"phone": "5544999999999", "zaapId": "Z1", "messageId": "M1", "type": "DeliveryCallback",
                            "instanceId": "A", "error": "número não existe"})
    assert [(s.status, s.error_text) for s in failed.statuses] == [("failed", "número não existe")]


@pytest.mark.parametrize("payload, reason", [
    ([1], "body must be a JSON object"),
    ({"phone": "5544999999999"}, "missing 'type'"),
    ({"type": "ReceivedCallback", "phone": "5544999999999"}, "'instanceId', 'messageId' and 'phone' are required"),
    ({"type": "MessageStatusCallback", "status": "READ", "ids": "X"}, "MessageStatusCallback needs message ids"),
    (variant(TEXT, phone="abc", senderLid=None), "'phone': not a phone number and no @lid identity given"),
    (variant(TEXT, image={"imageUrl": 5}, text=None), "the message content does not have the shape Z-API sends"),
])
def test_malformed_bodies_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(PayloadError) as error:
        parse_webhook(payload)
    assert str(error.value).startswith(reason)
