"""The provider-neutral shapes every adapter speaks: inbound events, send receipts, send errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class PayloadError(ValueError):
    """A webhook body that parsed as JSON but is not the provider's shape; the text says why."""


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
    media: dict[str, Any] | None = None
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


class SendError(Exception):
    """A provider refused or failed a send. `transient` ones are retried, the others are final."""

    transient = False

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class TransientSendError(SendError):
    transient = True


class PermanentSendError(SendError):
    transient = False


@dataclass(frozen=True)
class ChipRef:
    id: int
    provider: str
    external_id: str


class Channel(Protocol):
    provider: str

    def send_text(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt: ...
