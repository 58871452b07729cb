"""The sandbox chat's webhook body: validated strictly, normalized like any provider's event."""

from __future__ import annotations

import pytest

from sdr.channels.base import ChipRef, PayloadError
from sdr.channels.sandbox import MAX_TEXT, SandboxChannel, parse_webhook


def test_valid_body_becomes_one_text_event():
    parsed = parse_webhook({"phone": "+55 11 98765-4321", "text": "  Oi, tudo bem?  ", "id": "abc", "name": " Zé "})
    [event] = parsed.events
    assert (event.provider, event.channel_ref) == ("sandbox", "sandbox")
    assert event.lead_address == "+5511987654321"
    assert (event.kind, event.text, event.profile_name) == ("text", "Oi, tudo bem?", "Zé")
    assert event.provider_message_id == "abc" and event.from_me is False


def test_missing_id_gets_a_fresh_one_per_body():
    first = parse_webhook({"phone": "+5511987654321", "text": "a"}).events[0]
    second = parse_webhook({"phone": "+5511987654321", "text": "a"}).events[0]
    assert first.provider_message_id and first.provider_message_id != second.provider_message_id


@pytest.mark.parametrize("body, reason", [
    (["+5511987654321", "oi"], "JSON object"),
    ({"text": "oi"}, "'phone' is required"),
    ({"phone": 5511987654321, "text": "oi"}, "'phone' is required"),
    ({"phone": "not a phone", "text": "oi"}, "'phone'"),
    ({"phone": "+55 11", "text": "oi"}, "'phone'"),
    ({"phone": "+5511987654321"}, "'text' is required"),
    ({"phone": "+5511987654321", "text": "   "}, "'text' is required"),
    ({"phone": "+5511987654321", "text": 42}, "'text' is required"),
    ({"phone": "+5511987654321", "text": "x" * (MAX_TEXT + 1)}, "longer than"),
    ({"phone": "+5511987654321", "text": "oi", "id": 7}, "'id'"),
    ({"phone": "+5511987654321", "text": "oi", "id": ""}, "'id'"),
    ({"phone": "+5511987654321", "text": "oi", "id": "x" * 129}, "'id'"),
    ({"phone": "+5511987654321", "text": "oi", "name": ["Zé"]}, "'name'"),
])
def test_invalid_bodies_are_rejected_with_a_reason(body, reason):
    with pytest.raises(PayloadError, match=reason):
        parse_webhook(body)


def test_text_at_the_limit_is_accepted():
    assert parse_webhook({"phone": "+5511987654321", "text": "x" * MAX_TEXT}).events[0].text == "x" * MAX_TEXT


def test_sandbox_send_returns_a_distinct_receipt():
    chip = ChipRef(1, "sandbox", "sandbox")
    first = SandboxChannel().send_text(chip, "+5511987654321", "oi")
    second = SandboxChannel().send_text(chip, "+5511987654321", "oi")
    assert first.provider_message_id.startswith("sandbox-") and first != second


def test_media_body_becomes_an_attachment_event():
    body = {"phone": "+5511987654321", "media": {"url": "http://127.0.0.1:9/files/a.ogg", "mime": "audio/ogg"}}
    [event] = parse_webhook(body).events
    assert (event.kind, event.text) == ("audio", None)
    assert event.media == {"url": "http://127.0.0.1:9/files/a.ogg", "mime": "audio/ogg", "filename": None,
                           "voice": True}
    doc = {"phone": "+5511987654321", "text": "segue a conta",
           "media": {"url": "https://x.test/c.pdf", "mime": "application/pdf", "filename": "conta.pdf"}}
    [event] = parse_webhook(doc).events
    assert (event.kind, event.text, event.media["filename"]) == ("document", "segue a conta", "conta.pdf")


@pytest.mark.parametrize("media, reason", [
    ("http://x/a.ogg", "'media' must be an object"),
    ({"url": "file:///etc/passwd", "mime": "audio/ogg"}, "'media.url'"),
    ({"url": "http://x/a.ogg"}, "'media.mime'"),
    ({"url": "http://x/a.ogg", "mime": "audio/ogg", "filename": 3}, "'media.filename'"),
])
def test_bad_media_is_refused_with_the_reason(media, reason):
    with pytest.raises(PayloadError, match=reason):
        parse_webhook({"phone": "+5511987654321", "media": media})
