"""Meta Cloud API webhooks: every example of the reference notes, batched bodies, and what is ignored."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sdr.channels.base import PayloadError
from sdr.channels.meta import parse_webhook
from tests.meta_factories import (
    AUDIO,
    BUTTON_REPLY,
    IMAGE,
    LIST_REPLY,
    PHONE_NUMBER_ID,
    STATUS_DELIVERED,
    STATUS_FAILED,
    STATUS_READ,
    STATUS_REENGAGEMENT,
    STATUS_SENT,
    TEXT_BODY,
    envelope,
)

LEAD = "+16505551234"


def only_event(body):
    parsed = parse_webhook(body)
    assert len(parsed.events) == 1 and not parsed.statuses, parsed
    return parsed.events[0]


def test_the_official_text_example():
    event = only_event(TEXT_BODY)
    assert (event.provider, event.channel_ref, event.lead_address) == ("meta", PHONE_NUMBER_ID, LEAD)
    assert event.provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert (event.kind, event.text, event.profile_name) == ("text", "Does it come in another color?", "Sheena Nelson")
    assert event.provider_ts == datetime.fromtimestamp(1749416383, tz=timezone.utc)
    assert event.media is None and event.context is None and not event.from_me


def test_a_voice_note_carries_its_media_id_mime_hash_and_voice_flag():
    event = only_event(envelope([AUDIO]))
    assert event.kind == "audio" and event.text is None
    assert event.media["provider_media_id"] == "1908647269898587"
    assert event.media["mime"] == "audio/ogg; codecs=opus"
    assert event.media["sha256"] == "wvqXMe6n7n1W0zphvLPoLj+s/NtKqmr3zZ7YzTP7xFI="
    assert event.media["voice"] is True
    assert event.media["url"].startswith("https://lookaside.fbsbx.com/")


def test_an_image_keeps_its_caption_and_a_url_is_optional():
    event = only_event(envelope([IMAGE]))
    assert (event.kind, event.text, event.media["caption"]) == ("image", "Taj Mahal", "Taj Mahal")
    assert event.media["provider_media_id"] == "1003383421387256" and event.media["voice"] is False
    no_url = {**IMAGE, "image": {k: v for k, v in IMAGE["image"].items() if k not in ("url", "caption")}}
    event = only_event(envelope([no_url]))
    assert event.media["url"] is None and event.text is None and "caption" not in event.media


def test_documents_videos_and_stickers():
    doc = {**IMAGE, "id": "wamid.doc", "type": "document",
           "document": {"filename": "conta-de-luz.pdf", "mime_type": "application/pdf", "sha256": "x", "id": "77"}}
    video = {**IMAGE, "id": "wamid.video", "type": "video",
             "video": {"caption": "o telhado", "mime_type": "video/mp4", "sha256": "y", "id": "78"}}
    sticker = {**IMAGE, "id": "wamid.sticker", "type": "sticker",
               "sticker": {"mime_type": "image/webp", "sha256": "z", "id": "79", "animated": False}}
    events = parse_webhook(envelope([doc, video, sticker])).events
    assert [(e.kind, e.text) for e in events] == [
        ("document", "conta-de-luz.pdf"), ("video", "o telhado"), ("sticker", None)]
    assert events[0].media["filename"] == "conta-de-luz.pdf" and events[0].media["mime"] == "application/pdf"
    assert [e.media["provider_media_id"] for e in events] == ["77", "78", "79"]


def test_button_and_list_replies_keep_the_quoted_message_and_ids():
    button = only_event(envelope([BUTTON_REPLY]))
    assert (button.kind, button.text) == ("button", "Cancel")
    assert button.context == {"reply_to": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
                              "button_id": "cancel-button"}
    chosen = only_event(envelope([LIST_REPLY]))
    assert (chosen.kind, chosen.text) == ("list", "Priority Mail Express")
    assert chosen.context == {"list_id": "priority_express", "list_description": "Next Day to 2 Days"}


def test_a_template_quick_reply_button():
    tap = {"from": "16505551234", "id": "wamid.tap", "timestamp": "1750025136", "type": "button",
           "button": {"payload": "QUERO_ORCAMENTO", "text": "Quero um orçamento"}}
    event = only_event(envelope([tap]))
    assert (event.kind, event.text, event.context) == ("button", "Quero um orçamento",
                                                        {"button_payload": "QUERO_ORCAMENTO"})


def test_location_and_contacts():
    location = {"from": "16505551234", "id": "wamid.loc", "timestamp": "1750025136", "type": "location",
                "location": {"latitude": -23.5505, "longitude": -46.6333, "name": "Casa", "address": "Rua A, 1"}}
    contacts = {"from": "16505551234", "id": "wamid.vcard", "timestamp": "1750025136", "type": "contacts",
                "contacts": [{"name": {"formatted_name": "João Silva", "first_name": "João"},
                              "phones": [{"phone": "+55 11 98765-4321", "wa_id": "5511987654321", "type": "CELL"}]}]}
    where, who = parse_webhook(envelope([location, contacts])).events
    assert (where.kind, where.text) == ("location", "Casa - Rua A, 1 - -23.5505,-46.6333")
    assert where.context["location"]["latitude"] == -23.5505
    assert (who.kind, who.text) == ("contacts", "João Silva: +55 11 98765-4321")
    assert who.context["contacts"] == [{"name": "João Silva", "phones": ["+55 11 98765-4321"]}]


def test_a_quoted_reply_a_forward_and_a_click_to_whatsapp_referral():
    message = {"from": "5511987654321", "id": "wamid.ad", "timestamp": "1750025136", "type": "text",
               "text": {"body": "Vi o anúncio, quero saber mais"},
               "context": {"from": "15550783881", "id": "wamid.ours", "forwarded": True},
               "referral": {"source_url": "https://fb.me/abc", "source_id": "120208", "source_type": "ad",
                            "headline": "Energia solar sem entrada", "body": "Economize até 95%",
                            "media_type": "image", "image_url": "https://x", "ctwa_clid": "ARAkLkA"}}
    event = only_event(envelope([message]))
    assert event.lead_address == "+5511987654321"
    assert event.context["reply_to"] == "wamid.ours" and event.context["forwarded"] is True
    assert event.context["referral"] == {"source_url": "https://fb.me/abc", "source_id": "120208",
                                         "source_type": "ad", "headline": "Energia solar sem entrada",
                                         "body": "Economize até 95%", "media_type": "image", "ctwa_clid": "ARAkLkA"}


def test_statuses_every_example():
    parsed = parse_webhook(envelope(statuses=[STATUS_SENT, STATUS_DELIVERED, STATUS_READ, STATUS_FAILED,
                                              STATUS_REENGAGEMENT]))
    assert not parsed.events
    assert [(s.status, s.error_code) for s in parsed.statuses] == [
        ("sent", None), ("delivered", None), ("read", None), ("failed", "131049"), ("failed", "131047")]
    assert parsed.statuses[0].provider_message_id == STATUS_SENT["id"]
    assert parsed.statuses[0].at == datetime.fromtimestamp(1750030073, tz=timezone.utc)
    assert parsed.statuses[4].error_text.startswith("More than 24 hours have passed")


def test_a_batched_body_yields_every_item_of_every_entry_and_change():
    first = envelope([{**AUDIO, "id": "wamid.a"}, {**IMAGE, "id": "wamid.b"}], statuses=[STATUS_SENT])
    second = envelope([{**BUTTON_REPLY, "id": "wamid.c"}], phone_number_id="999000111", statuses=[STATUS_READ])
    body = {"object": "whatsapp_business_account",
            "entry": [first["entry"][0], {"id": "2", "changes": second["entry"][0]["changes"] * 1}]}
    body["entry"][0]["changes"].append({"field": "messages", "value": envelope(
        [{"from": "5511900000001", "id": "wamid.d", "timestamp": "1", "type": "text", "text": {"body": "oi"}}]
    )["entry"][0]["changes"][0]["value"]})
    parsed = parse_webhook(body)
    assert [(e.provider_message_id, e.channel_ref) for e in parsed.events] == [
        ("wamid.a", PHONE_NUMBER_ID), ("wamid.b", PHONE_NUMBER_ID), ("wamid.d", PHONE_NUMBER_ID),
        ("wamid.c", "999000111")]
    assert [s.status for s in parsed.statuses] == ["sent", "read"]


def test_reactions_unknown_types_and_other_fields_are_ignored_with_a_reason():
    reaction = {"from": "16505551234", "id": "wamid.r", "timestamp": "1", "type": "reaction",
                "reaction": {"message_id": "wamid.ours", "emoji": "👍"}}
    unsupported = {"from": "16505551234", "id": "wamid.u", "timestamp": "1", "type": "unsupported",
                   "errors": [{"code": 131051, "title": "Message type unknown"}]}
    novel = {"from": "16505551234", "id": "wamid.n", "timestamp": "1", "type": "hologram", "hologram": {}}
    parsed = parse_webhook(envelope([reaction, unsupported, novel],
                                    errors=[{"code": 131000, "title": "Something went wrong"}]))
    assert not parsed.events
    assert parsed.ignored == ["reaction", "unsupported message", "type 'hologram'", "error 131000"]
    other = envelope([])
    other["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    assert parse_webhook(other).ignored == ["field 'message_template_status_update'"]
    assert parse_webhook({"object": "page", "entry": []}).ignored == ["object 'page'"]


def test_a_malformed_item_is_skipped_and_the_rest_of_the_batch_kept():
    bad = {"from": "not-a-phone", "id": "wamid.bad", "timestamp": "1", "type": "text", "text": {"body": "x"}}
    no_body = {"from": "16505551234", "id": "wamid.empty", "timestamp": "1", "type": "image", "image": "oops"}
    parsed = parse_webhook(envelope([bad, no_body, {**AUDIO, "id": "wamid.ok"}]))
    assert [e.provider_message_id for e in parsed.events] == ["wamid.ok"]
    assert len(parsed.ignored) == 2 and all(r.startswith("malformed message") for r in parsed.ignored)


def test_a_business_scoped_user_without_a_phone_number():
    message = {"from_user_id": "BR.1587668549511396", "id": "wamid.u1", "timestamp": "1", "type": "text",
               "text": {"body": "oi"}}
    event = only_event(envelope([message], contacts=[{"profile": {"name": "Ana"},
                                                       "user_id": "BR.1587668549511396"}]))
    assert event.lead_address == "meta:BR.1587668549511396" and event.profile_name == "Ana"


@pytest.mark.parametrize("body", [[], "x", {"object": "whatsapp_business_account"},
                                  {"object": "whatsapp_business_account", "entry": [{"changes": "no"}]},
                                  {"object": "whatsapp_business_account",
                                   "entry": [{"changes": [{"field": "messages", "value": {"messages": []}}]}]}])
def test_bodies_that_are_not_meta_shaped_are_refused(body):
    with pytest.raises(PayloadError):
        parse_webhook(body)
