"""Sending through the Graph API (against the Meta stand-in): bodies, tokens, and Meta's error codes mapped
to retry, template or give up."""

from __future__ import annotations

import dataclasses

import pytest

from sdr.channels.base import ChipRef, PermanentSendError, RateLimitedSendError, TransientSendError
from sdr.channels.http import AmbiguousSendError
from sdr.channels.meta_send import MetaChannel
from sdr.settings import load_settings
from tests.meta_factories import PHONE_NUMBER_ID, meta_env

TO = "+5511987654321"
CHIP = ChipRef(1, "meta", PHONE_NUMBER_ID)


@pytest.fixture()
def meta_settings(base_env, meta):
    return load_settings({**base_env, **meta_env(meta.url), "SDR_CHIP_SECRET_VENDAS2": "chip-2-token"})


@pytest.fixture()
def channel(meta_settings):
    return MetaChannel(meta_settings.meta, meta_settings.chip_secret, (1.0, 3.0))


def sent_bodies(meta):
    return [r["body"] for r in meta.requests("send") if r["status"] == 200]


def test_text_goes_out_as_a_graph_api_text_message(channel, meta):
    receipt = channel.send_text(CHIP, TO, "Olá! Sou a Ana.")
    [sent] = meta.sent()
    assert receipt.provider_message_id == sent["message_id"] and receipt.template is None
    assert sent_bodies(meta) == [{"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO,
                                  "type": "text", "text": {"body": "Olá! Sou a Ana.", "preview_url": False}}]
    request = meta.requests("send")[0]
    assert request["path"] == f"/v21.0/{PHONE_NUMBER_ID}/messages"
    assert request["headers"]["Authorization"] == "Bearer meta-access-token-for-tests"


def test_a_chip_with_its_own_credentials_uses_its_token(channel, meta):
    meta.configure(tokens={"555000111": "chip-2-token"})
    chip = ChipRef(2, "meta", "555000111", credentials_ref="SDR_CHIP_SECRET_VENDAS2")
    channel.send_text(chip, TO, "Oi")
    assert meta.sent()[0]["phone_number_id"] == "555000111"
    with pytest.raises(PermanentSendError, match="SDR_CHIP_SECRET_NOPE"):
        channel.send_text(dataclasses.replace(chip, credentials_ref="SDR_CHIP_SECRET_NOPE"), TO, "Oi")


def test_media_by_link_read_receipt_and_typing(channel, meta):
    channel.send_media(CHIP, TO, "document", "https://example.com/proposta.pdf", caption="Sua proposta",
                       filename="proposta.pdf")
    channel.send_media(CHIP, TO, "audio", "https://example.com/a.ogg", caption="ignored for audio")
    channel.mark_read(CHIP, "wamid.lead", typing=True)
    doc, audio = sent_bodies(meta)
    assert doc["document"] == {"link": "https://example.com/proposta.pdf", "caption": "Sua proposta",
                               "filename": "proposta.pdf"}
    assert audio["audio"] == {"link": "https://example.com/a.ogg"}
    [read] = meta.requests("read")
    assert read["body"] == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.lead",
                            "typing_indicator": {"type": "text"}}


@pytest.mark.parametrize("error", [130429, 131056, {"code": 4, "status": 400}, {"code": 100, "status": 429}])
def test_rate_limits_are_retryable_rate_limited_errors(channel, meta, error):
    meta.configure(meta_errors=[error])
    with pytest.raises(RateLimitedSendError) as raised:
        channel.send_text(CHIP, TO, "Oi")
    assert raised.value.transient
    assert meta.sent() == []


def test_outside_the_window_meta_error_131047_sends_the_template_instead(channel, meta):
    meta.configure(window_closed=[TO])
    receipt = channel.send_text(CHIP, TO, "Texto livre que não pode sair")
    assert receipt.template == "retomar_conversa"
    [sent] = meta.sent()
    assert (sent["type"], sent["template"], sent["message_id"]) == ("template", "retomar_conversa",
                                                                    receipt.provider_message_id)
    assert sent_bodies(meta)[0]["template"] == {"name": "retomar_conversa", "language": {"code": "pt_BR"}}


def test_63016_also_means_the_template(channel, meta):
    meta.configure(meta_errors=[63016])
    assert channel.send_text(CHIP, TO, "Oi").template == "retomar_conversa"


def test_without_a_configured_template_a_closed_window_is_a_permanent_failure(meta_settings, meta):
    config = dataclasses.replace(meta_settings.meta, template_name=None)
    channel = MetaChannel(config, meta_settings.chip_secret, (1.0, 3.0))
    meta.configure(window_closed=[TO])
    with pytest.raises(PermanentSendError, match="SDR_META_TEMPLATE_NAME"):
        channel.send_text(CHIP, TO, "Oi")


@pytest.mark.parametrize("error, kind", [
    (131026, PermanentSendError), (132001, PermanentSendError), (190, PermanentSendError),
    (131000, TransientSendError), ({"code": 131005, "status": 503}, TransientSendError),
])
def test_other_errors_are_permanent_or_transient(channel, meta, error, kind):
    meta.configure(meta_errors=[error])
    with pytest.raises(kind) as raised:
        channel.send_text(CHIP, TO, "Oi")
    assert type(raised.value).transient == (kind is TransientSendError)
    assert not isinstance(raised.value, RateLimitedSendError)


def test_an_unreachable_server_is_transient_and_a_silent_one_ambiguous(meta_settings, meta):
    down = MetaChannel(dataclasses.replace(meta_settings.meta, graph_url="http://127.0.0.1:9"),
                       meta_settings.chip_secret, (0.5, 1.0))
    with pytest.raises(TransientSendError):
        down.send_text(CHIP, TO, "Oi")
    meta.configure(latency=1.5)
    slow = MetaChannel(meta_settings.meta, meta_settings.chip_secret, (0.5, 0.3))
    with pytest.raises(AmbiguousSendError):  # it may have been delivered: never sent again automatically
        slow.send_text(CHIP, TO, "Oi")


def test_phone_less_users_are_addressed_by_recipient(channel, meta):
    channel.send_text(CHIP, "meta:BR.1587668549511396", "Oi")
    body = sent_bodies(meta)[0]
    assert body["recipient"] == "BR.1587668549511396" and "to" not in body
