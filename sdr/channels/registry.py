"""Which adapter handles which provider, for parsing webhooks and for sending."""

from __future__ import annotations

from typing import Any, Callable

from sdr.channels import evolution, meta, sandbox, twilio, zapi
from sdr.channels.meta_send import MetaChannel
from sdr.channels.base import Channel, ParsedWebhook
from sdr.settings import Settings

PARSERS: dict[str, Callable[[Any], ParsedWebhook]] = {
    evolution.PROVIDER: evolution.parse_webhook,
    zapi.PROVIDER: zapi.parse_webhook,
    twilio.PROVIDER: twilio.parse_webhook,  # takes the form fields, not JSON
    sandbox.PROVIDER: sandbox.parse_webhook,
    meta.PROVIDER: meta.parse_webhook,
}


class ChannelUnavailable(LookupError):
    """No adapter is configured for a chip's provider."""


def channel_for(provider: str, settings: Settings) -> Channel:
    timeout = (settings.provider_connect_timeout, settings.provider_read_timeout)
    if provider == sandbox.PROVIDER:
        return sandbox.SandboxChannel()
    if provider == evolution.PROVIDER and settings.evolution:
        return evolution.EvolutionChannel(settings.evolution.api_url, settings.evolution.api_key, timeout)
    if provider == zapi.PROVIDER and settings.zapi:
        z = settings.zapi
        return zapi.ZapiChannel(z.base_url, z.token, z.client_token, timeout)
    if provider == twilio.PROVIDER and settings.twilio:
        t = settings.twilio
        return twilio.TwilioChannel(t.api_url, t.account_sid, t.auth_token, t.status_callback_url, timeout)
    if provider == meta.PROVIDER and settings.meta:
        return MetaChannel(settings.meta, settings.chip_secret, timeout)
    raise ChannelUnavailable(f"provider {provider!r} is not configured")
