"""The provider-neutral shapes every adapter speaks: inbound events, send receipts, send errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypedDict


class PayloadError(ValueError):
    """A webhook body that parsed as JSON but is not the provider's shape; the text says why."""


class MediaRef(TypedDict, total=False):
    """What an inbound event knows about its attachment; `sdr.media` resolves it to text.

    Exactly one of url / provider_media_id / base64 locates the bytes, depending on the provider.
    """

    mime: str | None
    url: str | None  # direct download URL (Z-API, Twilio, Evolution when it gives one)
    provider_media_id: str | None  # Meta media id, or Evolution message key id for getBase64FromMediaMessage
    base64: str | None  # inline bytes, when the provider sent them in the webhook
    size: int | None  # bytes, when the provider says
    filename: str | None
    caption: str | None
    sha256: str | None
    voice: bool  # a push-to-talk voice note rather than an audio file


@dataclass(frozen=True)
class InboundEvent:
    """One message as the provider delivered it, normalized."""

    provider: str
    channel_ref: str  # which of our numbers received it, as the provider names it
    provider_message_id: str
    lead_address: str
    kind: str  # text, audio, image, document, video, sticker, location, contacts, button...
    text: str | None = None
    profile_name: str | None = None
    media: MediaRef | None = None  # see MediaRef; quoted/referral details travel in `context`
    context: dict[str, Any] | None = None  # reply-to (quoted id/text), Click-to-WhatsApp referral, button ids
    provider_ts: datetime | None = None
    from_me: bool = False  # typed on the business phone by a human


STATUS_ORDER = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}  # only ever forward; failed is terminal


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's report on a message we sent: sent, delivered, read or failed."""

    provider: str
    provider_message_id: str
    status: str  # one of STATUS_ORDER
    at: datetime | None = None
    error_code: str | None = None
    error_text: str | None = None


@dataclass
class ParsedWebhook:
    events: list[InboundEvent] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # short reasons, for the response and metrics


@dataclass(frozen=True)
class SendReceipt:
    provider_message_id: str
    template: str | None = None  # the template sent instead of the text (closed 24-hour window)


class SendError(Exception):
    """A provider refused or failed a send. `transient` ones are retried, the others are final."""

    transient = False

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientSendError(SendError):
    transient = True


class RateLimitedSendError(TransientSendError):
    """The provider asked us to slow down (HTTP 429, Meta 130429/131056, Twilio 63018): retry later, with jitter."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    transient = False


@dataclass(frozen=True)
class ChipRef:
    id: int
    provider: str
    external_id: str
    credentials_ref: str | None = None  # names the secret (see Settings.chip_secret); None: the provider's default


class Channel(Protocol):
    provider: str

    def send_text(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt: ...
