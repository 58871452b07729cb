"""Twilio WhatsApp: every webhook example of the reference notes (B1, B4) parses to the right event."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from sdr.channels.base import PayloadError
from sdr.channels.twilio import parse_webhook

# Reference B1, verbatim form bodies.
TEXT = ("SmsMessageSid=SM01cd3925943ee3504f8a5c42d88efdf6&NumMedia=0&ProfileName=Jhonata&SmsSid=SM01cd3925943ee3504f8a5"
        "c42d88efdf6&WaId=558282136275&SmsStatus=received&Body=Ol%C3%A1&To=whatsapp%3A%2B14155238886&NumSegments=1&Ref"
        "erralNumMedia=0&MessageSid=SM01cd3925943ee3504f8a5c42d88efdf6&AccountSid=ACccec30b8f64bfa44a6dc60d2a447f5c5&F"
        "rom=whatsapp%3A%2B558282136275&ApiVersion=2010-04-01")
IMAGE = ("MediaContentType0=image%2Fjpeg&SmsMessageSid=MM21151abfaadc1fb79b782f8460862a52&NumMedia=1&SmsSid=MM21151abfa"
         "adc1fb79b782f8460862a52&SmsStatus=received&Body=&To=whatsapp%3A%2B14123456789&NumSegments=1&MessageSid=MM211"
         "51abfaadc1fb79b782f8460862a52&AccountSid=AC1a03647d811fab342c0ad608e382fab2&From=whatsapp%3A%2B31612345678&Me"
         "diaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1a03647d811fab342c0ad608e382fab2%2FMessages%"
         "2FMM21151abfaadc1fb79b782f8460862a52%2FMedia%2FME5f0afa2336bd0f73ca553fb5a2e3150bc&ApiVersion=2010-04-01")
BUTTON = {"MessageType": "button", "ButtonText": "قبول الدعوة", "ButtonPayload": "قبول الدعوة", "Body": "قبول الدعوة",
          "OriginalRepliedMessageSid": "MM0deda00296b0e4abc18c2352f270817f",
          "OriginalRepliedMessageSender": "whatsapp:+201035460160",
          "MessageSid": "SM637fb5f3b6eb903917943546a5d61aa6", "SmsMessageSid": "SM637fb5f3b6eb903917943546a5d61aa6",
          "AccountSid": "AC3a85f12b7d1cc23b1bfd205a1fdc15ec", "From": "whatsapp:+201012042912",
          "To": "whatsapp:+201035460160", "ProfileName": "❤️", "WaId": "201012042912", "NumMedia": "0",
          "NumSegments": "1", "ReferralNumMedia": "0"}
# Reference B4, verbatim.
READ = ("EventType=READ&SmsSid=SMd5cfa9e002d043c18defc777668b08c1&SmsStatus=read&MessageStatus=read&ChannelToAddress="
        "%2B91848951XXXX&To=whatsapp%3A%2B918489514086&ChannelPrefix=whatsapp&MessageSid=SMd5cfa9e002d043c18defc777668b"
        "08c1&AccountSid=ACd2b8754af33c55da6e4ec1e00e429266&From=whatsapp%3A%2B14155238886&ApiVersion=2010-04-01")


def form(body: str) -> dict[str, str]:
    return dict(parse_qsl(body, keep_blank_values=True))


def only_event(params: dict[str, str]):
    parsed = parse_webhook(params)
    assert parsed.statuses == [] and parsed.ignored == []
    [event] = parsed.events
    return event


def test_text_capture():
    event = only_event(form(TEXT))
    assert (event.provider, event.channel_ref) == ("twilio", "+14155238886")
    assert event.provider_message_id == "SM01cd3925943ee3504f8a5c42d88efdf6"
    assert (event.lead_address, event.kind, event.text, event.profile_name) == ("+558282136275", "text", "Olá",
                                                                                "Jhonata")
    assert event.media is None and event.context is None and event.from_me is False


def test_image_capture():
    event = only_event(form(IMAGE))
    assert (event.kind, event.text, event.lead_address) == ("image", None, "+31612345678")
    assert event.media == {"mime": "image/jpeg", "url": "https://api.twilio.com/2010-04-01/Accounts/AC1a03647d811fab3"
                           "42c0ad608e382fab2/Messages/MM21151abfaadc1fb79b782f8460862a52/Media/ME5f0afa2336bd0f73ca"
                           "553fb5a2e3150bc"}


def test_voice_note():
    params = {**form(IMAGE), "MediaContentType0": "audio/ogg"}
    event = only_event(params)
    assert event.kind == "audio" and event.media["voice"] is True


@pytest.mark.parametrize("mime, kind", [("video/mp4", "video"), ("application/pdf", "document"),
                                        ("image/webp", "sticker"), ("text/vcard", "contacts")])
def test_media_kinds_by_content_type(mime, kind):
    assert only_event({**form(IMAGE), "MediaContentType0": mime}).kind == kind


def test_several_media_become_several_messages():
    params = {**form(IMAGE), "NumMedia": "2", "Body": "as duas contas", "MediaUrl1": "https://api.twilio.com/m/ME2",
              "MediaContentType1": "application/pdf"}
    events = parse_webhook(params).events
    assert [(e.provider_message_id, e.kind, e.text) for e in events] == [
        ("MM21151abfaadc1fb79b782f8460862a52", "image", "as duas contas"),
        ("MM21151abfaadc1fb79b782f8460862a52#1", "document", None)]
    assert events[0].media["caption"] == "as duas contas"


def test_button_capture_carries_payload_and_replied_message():
    event = only_event(BUTTON)
    assert (event.kind, event.text) == ("button", "قبول الدعوة")
    assert event.context == {"quoted_id": "MM0deda00296b0e4abc18c2352f270817f", "button_id": "قبول الدعوة"}
    assert event.channel_ref == "+201035460160" and event.lead_address == "+201012042912"


def test_list_selection():
    params = {**form(TEXT), "MessageType": "interactive", "ListId": "residencial", "ListTitle": "Residencial",
              "Body": "Residencial"}
    event = only_event(params)
    assert (event.kind, event.text, event.context) == ("list", "Residencial", {"list_id": "residencial"})


def test_location():
    params = {**form(TEXT), "Body": "", "Latitude": "-23.55", "Longitude": "-46.63", "Address": "Av. Paulista, 1000",
              "Label": "Escritório"}
    event = only_event(params)
    assert (event.kind, event.text) == ("location", "[localização] Escritório - Av. Paulista, 1000 (-23.55, -46.63)")


def test_click_to_whatsapp_referral():
    params = {**form(TEXT), "ReferralNumMedia": "0", "ReferralBody": "Economize 95%", "ReferralHeadline": "Solar",
              "ReferralSourceId": "120210", "ReferralSourceType": "ad", "ReferralSourceUrl": "https://fb.me/ad",
              "ReferralCtwaClid": "ARAkL"}
    assert only_event(params).context == {"referral": {
        "source_url": "https://fb.me/ad", "source_id": "120210", "source_type": "ad", "headline": "Solar",
        "body": "Economize 95%", "ctwa_clid": "ARAkL"}}


def test_reactions_and_other_channels_are_ignored():
    assert parse_webhook({**form(TEXT), "MessageType": "reaction"}).ignored == ["reaction"]
    sms = {**form(TEXT), "From": "+558282136275", "To": "+14155238886"}
    assert parse_webhook(sms).ignored == ["not a WhatsApp message"]


def test_read_status_capture():
    parsed = parse_webhook(form(READ))
    assert parsed.events == []
    [status] = parsed.statuses
    assert (status.provider, status.provider_message_id, status.status) == (
        "twilio", "SMd5cfa9e002d043c18defc777668b08c1", "read")


@pytest.mark.parametrize("raw, status", [("sent", "sent"), ("delivered", "delivered"), ("failed", "failed"),
                                         ("undelivered", "failed")])
def test_status_callbacks(raw, status):
    params = {**form(READ), "MessageStatus": raw, "SmsStatus": raw, "ErrorCode": "63016" if status == "failed" else ""}
    [report] = parse_webhook(params).statuses
    assert report.status == status
    assert report.error_code == ("63016" if status == "failed" else None)


@pytest.mark.parametrize("raw", ["queued", "accepted", "sending"])
def test_statuses_that_say_nothing_new_are_ignored(raw):
    parsed = parse_webhook({**form(READ), "MessageStatus": raw})
    assert parsed.statuses == [] and parsed.ignored == [f"status {raw}"]


@pytest.mark.parametrize("params, reason", [
    ({"Body": "Oi"}, "missing 'MessageSid'"),
    ({**form(TEXT), "From": "whatsapp:abc"}, "'From'/'To'"),
    ({**form(IMAGE), "NumMedia": "x"}, "'NumMedia' must be a number"),
    ({**form(IMAGE), "NumMedia": "2"}, "'MediaUrlN' missing"),
])
def test_malformed_forms_are_rejected(params, reason):
    with pytest.raises(PayloadError) as error:
        parse_webhook(params)
    assert str(error.value).startswith(reason)
