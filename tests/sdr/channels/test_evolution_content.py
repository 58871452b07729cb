"""Evolution API v2: every kind of content a lead sends, quoted replies, ad referrals, and the
`messages.update` status reports of what we sent."""

from __future__ import annotations

from typing import Any

import pytest

from sdr.channels.base import PayloadError
from sdr.channels.evolution import parse_webhook
from tests.sdr.channels.test_evolution import TEXT, only_event, variant


def content(message_type: str, message: dict[str, Any], **data: Any):
    return only_event(variant(TEXT, messageType=message_type, message=message, **data))


def test_quoted_reply_in_data_context_info():
    event = content("conversation", {"conversation": "Esse mesmo"}, contextInfo={
        "stanzaId": "3EB0QUOTED", "participant": "5511999990000@s.whatsapp.net",
        "quotedMessage": {"conversation": "Temos kits de 3, 5 e 8 kWp"}})
    assert event.context == {"quoted_id": "3EB0QUOTED", "quoted_text": "Temos kits de 3, 5 e 8 kWp"}


def test_quoted_reply_inside_extended_text_message():
    event = content("extendedTextMessage", {"extendedTextMessage": {
        "text": "esse", "contextInfo": {"stanzaId": "Q2", "quotedMessage": {
            "imageMessage": {"caption": "tabela de preços"}}}}})
    assert (event.text, event.context) == ("esse", {"quoted_id": "Q2", "quoted_text": "tabela de preços"})


def test_click_to_whatsapp_referral():
    event = content("extendedTextMessage", {"extendedTextMessage": {
        "text": "Olá! Quero mais informações.", "contextInfo": {"externalAdReply": {
            "title": "Energia solar sem entrada", "body": "Economize até 95%", "mediaType": 1,
            "thumbnailUrl": "https://scontent.example/t.jpg", "sourceType": "ad", "sourceId": "120210000",
            "sourceUrl": "https://fb.me/abc", "ctwaClid": "ARAkLkA"}}}})
    assert event.context == {"referral": {
        "source_url": "https://fb.me/abc", "source_id": "120210000", "source_type": "ad",
        "headline": "Energia solar sem entrada", "body": "Economize até 95%",
        "media_url": "https://scontent.example/t.jpg", "ctwa_clid": "ARAkLkA"}}


def test_document_video_and_sticker():
    document = content("documentMessage", {"documentMessage": {
        "url": "https://mmg.whatsapp.net/d.enc", "mimetype": "application/pdf", "fileName": "conta.pdf",
        "fileLength": "52011"}})
    assert (document.kind, document.text) == ("document", "conta.pdf")
    assert document.media == {"mime": "application/pdf", "provider_media_id": TEXT["data"]["key"]["id"],
                              "size": 52011, "filename": "conta.pdf", "voice": False}
    wrapped = content("documentWithCaptionMessage", {"documentWithCaptionMessage": {"message": {"documentMessage": {
        "mimetype": "application/pdf", "fileName": "orcamento.pdf", "caption": "segue a conta"}}}})
    assert (wrapped.kind, wrapped.text, wrapped.media["filename"]) == ("document", "segue a conta", "orcamento.pdf")
    video = content("videoMessage", {"videoMessage": {"mimetype": "video/mp4", "caption": "meu telhado"},
                                     "mediaUrl": "https://s3.example/v.mp4"})
    assert (video.kind, video.text, video.media["url"]) == ("video", "meu telhado", "https://s3.example/v.mp4")
    sticker = content("stickerMessage", {"stickerMessage": {"mimetype": "image/webp"}})
    assert (sticker.kind, sticker.text, sticker.media["mime"]) == ("sticker", None, "image/webp")


def test_location_reads_as_text():
    event = content("locationMessage", {"locationMessage": {
        "degreesLatitude": -23.5505, "degreesLongitude": -46.6333, "name": "Escritório", "address": "Av. Paulista"}})
    assert (event.kind, event.text) == ("location", "[localização] Escritório - Av. Paulista (-23.5505, -46.6333)")
    bare = content("locationMessage", {"locationMessage": {"degreesLatitude": -23.5, "degreesLongitude": -46.6}})
    assert bare.text == "[localização] -23.5, -46.6"


def test_contacts_read_as_names_and_phones():
    vcard = ("BEGIN:VCARD\nVERSION:3.0\nN:;Carlos;;;\nFN:Carlos\nitem1.TEL;waid=5511977776666:+55 11 97777-6666\n"
             "END:VCARD")
    single = content("contactMessage", {"contactMessage": {"displayName": "Carlos", "vcard": vcard}})
    assert (single.kind, single.text) == ("contacts", "[contato] Carlos: +5511977776666")
    many = content("contactsArrayMessage", {"contactsArrayMessage": {"displayName": "2 contatos", "contacts": [
        {"displayName": "Carlos", "vcard": vcard},
        {"displayName": "Ana", "vcard": "BEGIN:VCARD\nFN:Ana\nTEL;type=CELL:+55 21 98888-1111\nEND:VCARD"}]}})
    assert many.text == "[contato] Carlos: +5511977776666; Ana: +55 21 98888-1111"


def test_button_and_list_replies_carry_their_ids():
    button = content("buttonsResponseMessage", {"buttonsResponseMessage": {
        "selectedButtonId": "btn-orcamento", "selectedDisplayText": "Quero um orçamento"}})
    assert (button.kind, button.text, button.context) == ("button", "Quero um orçamento",
                                                          {"button_id": "btn-orcamento"})
    template = content("templateButtonReplyMessage", {"templateButtonReplyMessage": {
        "selectedId": "sim", "selectedDisplayText": "Sim, pode ligar"}})
    assert (template.kind, template.text, template.context) == ("button", "Sim, pode ligar", {"button_id": "sim"})
    chosen = content("listResponseMessage", {"listResponseMessage": {
        "title": "Comercial", "listType": 1, "singleSelectReply": {"selectedRowId": "row-comercial"}}})
    assert (chosen.kind, chosen.text, chosen.context) == ("list", "Comercial", {"list_id": "row-comercial"})


@pytest.mark.parametrize("message_type, reason", [("editedMessage", "edit"), ("protocolMessage", "protocol message"),
                                                  ("pollUpdateMessage", "poll update")])
def test_edits_and_protocol_messages_are_ignored(message_type, reason):
    parsed = parse_webhook(variant(TEXT, messageType=message_type, message={message_type: {}}))
    assert parsed.events == [] and parsed.ignored == [reason]


def update(data: Any) -> dict[str, Any]:
    return {"event": "messages.update", "instance": "sdr-test", "data": data,
            "destination": "https://x.invalid", "date_time": "2026-11-22T10:00:00.000Z",
            "sender": "5511999990000@s.whatsapp.net", "server_url": "http://evolution.invalid", "apikey": None}


@pytest.mark.parametrize("raw, status", [("SERVER_ACK", "sent"), ("DELIVERY_ACK", "delivered"), ("READ", "read"),
                                         ("PLAYED", "read"), ("ERROR", "failed"), (3, "delivered"), (4, "read")])
def test_message_updates_are_status_reports(raw, status):
    parsed = parse_webhook(update({"messageId": "cm3x", "keyId": "3EB0ABC", "remoteJid": "5511987654321@s.whatsapp.net",
                                   "fromMe": True, "participant": None, "status": raw, "instanceId": "f86c"}))
    reports = [(s.provider, s.provider_message_id, s.status) for s in parsed.statuses]
    assert reports == [("evolution", "3EB0ABC", status)]


def test_older_update_shape_and_batches():
    parsed = parse_webhook(update([{"key": {"remoteJid": "5511987654321@s.whatsapp.net", "fromMe": True, "id": "A"},
                                    "update": {"status": 4}},
                                   {"keyId": "B", "fromMe": True, "status": "DELIVERY_ACK"}]))
    assert [(s.provider_message_id, s.status) for s in parsed.statuses] == [("A", "read"), ("B", "delivered")]


def test_updates_that_are_not_about_our_sends_are_ignored():
    parsed = parse_webhook(update([{"keyId": "IN1", "fromMe": False, "status": "READ"},
                                   {"keyId": "OUT1", "fromMe": True, "status": "PENDING"}]))
    assert parsed.statuses == [] and parsed.ignored == ["status of an inbound message", "status PENDING"]


def test_a_malformed_update_is_a_payload_error():
    with pytest.raises(PayloadError):
        parse_webhook(update({"fromMe": True, "status": "READ"}))
