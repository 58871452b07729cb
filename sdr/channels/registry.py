"""Which adapter handles which provider, for parsing webhooks and for sending."""

from __future__ import annotations

from typing import Any, Callable

from sdr.channels import evolution, meta, sandbox
from sdr.channels.meta_send import MetaChannel
from sdr.channels.base import Channel, ParsedWebhook
from sdr.settings import Settings

PARSERS: dict[str, Callable[[Any], ParsedWebhook]] = {
    evolution.PROVIDER: evolution.parse_webhook,
    sandbox.PROVIDER: sandbox.parse_webhook,
    meta.PROVIDER: meta.parse_webhook,
}


class ChannelUnavailable(LookupError):
    """No adapter is configured for a chip's provider."""


def channel_for(provider: str, settings: Settings) -> Channel:
    if provider == sandbox.PROVIDER:
        return sandbox.SandboxChannel()
    if provider == evolution.PROVIDER and settings.evolution:
        timeout = (settings.provider_connect_timeout, settings.provider_read_timeout)
        return evolution.EvolutionChannel(settings.evolution.api_url, settings.evolution.api_key, timeout)
    if provider == meta.PROVIDER and settings.meta:
        timeout = (settings.provider_connect_timeout, settings.provider_read_timeout)
        return MetaChannel(settings.meta, settings.chip_secret, timeout)
    raise ChannelUnavailable(f"provider {provider!r} is not configured")
