"""WhatsApp identities: JIDs to lead addresses and back, and masking for logs."""

from __future__ import annotations

import pytest

from sdr.addresses import AddressError, e164, from_jid, mask, scrub, to_jid


@pytest.mark.parametrize("raw, expected", [
    ("5511987654321", "+5511987654321"),
    ("+55 11 98765-4321", "+5511987654321"),
    ("(11) 98765-4321", "+11987654321"),
])
def test_e164(raw, expected):
    assert e164(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "1234567", "1" * 16])
def test_e164_rejects_non_numbers(raw):
    with pytest.raises(AddressError):
        e164(raw)


@pytest.mark.parametrize("jid, alt, expected", [
    ("5511987654321@s.whatsapp.net", None, "+5511987654321"),
    ("5511987654321:12@s.whatsapp.net", None, "+5511987654321"),
    ("5511987654321@c.us", None, "+5511987654321"),
    ("116909060165867@lid", "5598701123456@s.whatsapp.net", "+5598701123456"),
    ("116909060165867@lid", None, "lid:116909060165867"),
    ("116909060165867@lid", "116909060165867@lid", "lid:116909060165867"),
])
def test_from_jid(jid, alt, expected):
    assert from_jid(jid, alt) == expected


@pytest.mark.parametrize("jid", ["120363025246125486@g.us", "abc@lid", "abc@s.whatsapp.net"])
def test_from_jid_rejects_what_is_not_a_person(jid):
    with pytest.raises(AddressError):
        from_jid(jid)


def test_to_jid_round_trips():
    for address in ("+5511987654321", "lid:116909060165867"):
        jid = to_jid(address)
        assert from_jid(jid if "@" in jid else jid + "@s.whatsapp.net") == address


def test_mask_keeps_only_enough_to_correlate():
    assert mask("+5511987654321") == "+55*******4321"
    assert mask("lid:116909060165867") == "lid:***867"
    assert mask(None) == "-"


@pytest.mark.parametrize("line", [
    "sending to 5511987654321 failed",
    "sending to +55 11 98765-4321 failed",
    "sending to (11) 98765-4321 failed",
    "jid 5511987654321@s.whatsapp.net",
    "message from 5511987654321.",
    "message from +5511987654321. Retrying",
])
def test_scrub_masks_phone_numbers_in_free_text(line):
    scrubbed = scrub(line)
    assert "98765" not in scrubbed and "4321" in scrubbed


@pytest.mark.parametrize("line", ["connect to 127.0.0.1:5432", "version 2.3.6", "turn 42 took 1200 ms",
                                  "uuid f86c8b02-29df-4de1-ac9d-1e8c78d7475c"])
def test_scrub_leaves_other_numbers_alone(line):
    assert scrub(line) == line
