"""Sending through Z-API, Twilio and Evolution (media, typing) against their stand-ins, and the
classification that decides retries: 429/63018 rate-limited, 5xx/unreachable transient, other 4xx final."""

from __future__ import annotations

import pytest

from sdr.channels.base import ChipRef, PermanentSendError, RateLimitedSendError, TransientSendError
from sdr.channels.evolution import EvolutionChannel
from sdr.channels.registry import channel_for
from sdr.channels.twilio import TwilioChannel
from sdr.channels.zapi import ZapiChannel
from tests.conftest import EVOLUTION_KEY, TWILIO_FROM, TWILIO_SID, TWILIO_TOKEN, ZAPI_INSTANCE, ZAPI_TOKEN

TIMEOUT = (2.0, 5.0)
LEAD = "+5511987654321"
ZCHIP = ChipRef(2, "zapi", ZAPI_INSTANCE)
TCHIP = ChipRef(3, "twilio", TWILIO_FROM)


@pytest.fixture()
def z(zapi, settings) -> ZapiChannel:
    return channel_for("zapi", settings)


@pytest.fixture()
def t(twilio, settings) -> TwilioChannel:
    return channel_for("twilio", settings)


# -- Z-API ----------------------------------------------------------------------------------------------------

def test_zapi_send_text_with_client_token_and_typing(z, zapi):
    receipt = z.send_text(ZCHIP, LEAD, "Olá! Tudo bem?", typing_seconds=3.4)
    [sent] = zapi.sent()
    assert (sent["instance"], sent["phone"], sent["message"], sent["delayTyping"]) == (
        ZAPI_INSTANCE, "5511987654321", "Olá! Tudo bem?", 3)
    assert receipt.provider_message_id == sent["message_id"]
    [request] = zapi.requests()
    assert request["headers"]["Client-Token"] == "zapi-stand-in-client-token"
    assert request["path"] == f"/instances/{ZAPI_INSTANCE}/token/{ZAPI_TOKEN}/send-text"


def test_zapi_media_by_url(z, zapi):
    z.send_media(ZCHIP, LEAD, "https://files.example/kit.jpg", "image/jpeg", caption="Kit 5 kWp")
    z.send_media(ZCHIP, LEAD, "https://files.example/proposta.pdf", "application/pdf", filename="proposta.pdf")
    image, document = zapi.sent()
    assert (image["endpoint"], image["media"], image["caption"]) == ("send-image", "https://files.example/kit.jpg",
                                                                     "Kit 5 kWp")
    assert (document["endpoint"], document["media"]) == ("send-document", "https://files.example/proposta.pdf")
    assert zapi.requests()[1]["path"].endswith("/send-document/pdf")


def test_zapi_without_the_client_token_is_refused_for_good(zapi, settings):
    channel = ZapiChannel(settings.zapi.base_url, ZAPI_TOKEN, "", TIMEOUT)
    with pytest.raises(PermanentSendError) as error:
        channel.send_text(ZCHIP, LEAD, "Oi")
    assert "null not allowed" in str(error.value)


@pytest.mark.parametrize("status, error", [(429, RateLimitedSendError), (503, TransientSendError),
                                           (500, TransientSendError), (400, PermanentSendError)])
def test_zapi_errors_are_classified(z, zapi, status, error):
    zapi.configure(fail_next=[status])
    with pytest.raises(error) as raised:
        z.send_text(ZCHIP, LEAD, "Oi")
    assert type(raised.value) is error and raised.value.status == status


# -- Twilio ---------------------------------------------------------------------------------------------------

def test_twilio_send_text_form_basic_auth_and_prefixes(t, twilio):
    receipt = t.send_text(TCHIP, LEAD, "Olá! 😀")
    [sent] = twilio.sent()
    assert (sent["account"], sent["to"], sent["from"], sent["text"]) == (
        TWILIO_SID, "whatsapp:+5511987654321", "whatsapp:+14155238886", "Olá! 😀")
    assert receipt.provider_message_id == sent["sid"] and sent["sid"].startswith("SM")
    assert twilio.requests()[0]["headers"]["Content-Type"] == "application/x-www-form-urlencoded"


def test_twilio_media_and_status_callback_url(twilio, settings):
    channel = TwilioChannel(settings.twilio.api_url, TWILIO_SID, TWILIO_TOKEN, "https://sdr.example/webhooks/twilio",
                            TIMEOUT)
    channel.send_media(TCHIP, LEAD, "https://files.example/kit.jpg", "image/jpeg", caption="Kit")
    [sent] = twilio.sent()
    assert (sent["media"], sent["text"], sent["status_callback"]) == (
        ["https://files.example/kit.jpg"], "Kit", "https://sdr.example/webhooks/twilio")


def test_twilio_rate_limit_63018_and_retry_after(t, twilio):
    twilio.configure(fail_next=[429])
    with pytest.raises(RateLimitedSendError) as raised:
        t.send_text(TCHIP, LEAD, "Oi")
    assert "63018" in str(raised.value)


@pytest.mark.parametrize("status, error", [(500, TransientSendError), (400, PermanentSendError),
                                           (404, PermanentSendError)])
def test_twilio_errors_are_classified(t, twilio, status, error):
    twilio.configure(fail_next=[status])
    with pytest.raises(error) as raised:
        t.send_text(TCHIP, LEAD, "Oi")
    assert type(raised.value) is error


def test_twilio_wrong_token_is_permanent(twilio, settings):
    channel = TwilioChannel(settings.twilio.api_url, TWILIO_SID, "wrong", None, TIMEOUT)
    with pytest.raises(PermanentSendError) as raised:
        channel.send_text(TCHIP, LEAD, "Oi")
    assert raised.value.status == 401


def test_twilio_cannot_address_a_lid(t, twilio):
    with pytest.raises(Exception, match="phone number"):
        t.send_text(TCHIP, "lid:116909060165867", "Oi")
    assert twilio.requests() == []


# -- Evolution: media and presence ----------------------------------------------------------------------------

def test_evolution_media_by_url_and_typing(evolution, settings):
    channel = EvolutionChannel(settings.evolution.api_url, EVOLUTION_KEY, TIMEOUT)
    chip = ChipRef(1, "evolution", "sdr-test")
    receipt = channel.send_media(chip, LEAD, "https://files.example/kit.jpg", "image/jpeg", caption="Kit")
    channel.send_typing(chip, LEAD, 1.5)
    channel.send_text(chip, LEAD, "Oi", typing_seconds=2)
    media, presence, text = evolution.requests()
    assert (media["kind"], media["mediatype"], media["media"], media["status"]) == (
        "sendMedia", "image", "https://files.example/kit.jpg", 201)
    assert receipt.provider_message_id == media["message_id"]
    assert (presence["kind"], presence["presence"], presence["delay"]) == ("presence", "composing", 1500)
    assert (text["kind"], text["delay"]) == ("sendText", 2000)


def test_evolution_429_is_rate_limited_with_retry_after(evolution, settings):
    evolution.configure(fail_next=[429])
    channel = EvolutionChannel(settings.evolution.api_url, EVOLUTION_KEY, TIMEOUT)
    with pytest.raises(RateLimitedSendError):
        channel.send_text(ChipRef(1, "evolution", "sdr-test"), LEAD, "Oi")


@pytest.mark.parametrize("header, expected", [("7", 7.0), ("0.5", 0.5), ("Wed, 21 Oct 2026 07:28:00 GMT", None),
                                              (None, None)])
def test_retry_after_header_is_honoured_when_numeric(header, expected):
    import requests

    from sdr.channels.http import _answer

    response = requests.Response()
    response.status_code = 429
    response._content = b'{"error": "too many requests"}'
    if header is not None:
        response.headers["Retry-After"] = header
    with pytest.raises(RateLimitedSendError) as raised:
        _answer(response)
    assert raised.value.retry_after == expected
