"""The built-in sandbox: a chat page posts as a lead; replies are stored and read back by the page.

It goes through exactly the same store -> ingest -> buffer -> turn -> send path as WhatsApp;
only the final hop (the provider call) is a no-op that marks the message sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from sdr.addresses import AddressError, e164
from sdr.channels.base import ChipRef, InboundEvent, MediaRef, ParsedWebhook, PayloadError, SendReceipt

PROVIDER = "sandbox"
CHANNEL_REF = "sandbox"
MAX_TEXT = 4096


def parse_webhook(payload: Any) -> ParsedWebhook:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    phone, text = payload.get("phone"), payload.get("text")
    if not isinstance(phone, str):
        raise PayloadError("'phone' is required (E.164, e.g. +5511987654321)")
    try:
        address = e164(phone)
    except AddressError as exc:
        raise PayloadError(f"'phone': {exc}") from None
    media = _media(payload.get("media"))
    if text is None and media is not None:
        text = ""
    if not isinstance(text, str) or (not text.strip() and media is None):
        raise PayloadError("'text' is required and must be non-empty (it may be left out when 'media' is given)")
    if len(text) > MAX_TEXT:
        raise PayloadError(f"'text' is longer than {MAX_TEXT} characters")
    message_id = payload.get("id", uuid.uuid4().hex)
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 128:
        raise PayloadError("'id' must be a string of 1 to 128 characters")
    name = payload.get("name")
    if name is not None and not isinstance(name, str):
        raise PayloadError("'name' must be a string")
    event = InboundEvent(
        provider=PROVIDER,
        channel_ref=CHANNEL_REF,
        provider_message_id=message_id,
        lead_address=address,
        kind=_kind(media["mime"]) if media else "text",
        text=text.strip() or None,
        profile_name=(name or "").strip() or None,
        media=media,
    )
    return ParsedWebhook(events=[event])


def _media(value: Any) -> MediaRef | None:
    """Optional attachment: {"url": "https://...", "mime": "audio/ogg", "filename": "conta.pdf"}."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PayloadError("'media' must be an object with 'url' and 'mime'")
    url, mime, filename = value.get("url"), value.get("mime"), value.get("filename")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2048:
        raise PayloadError("'media.url' must be an http(s) URL of at most 2048 characters")
    if not isinstance(mime, str) or "/" not in mime:
        raise PayloadError("'media.mime' must be a MIME type such as audio/ogg, image/jpeg or application/pdf")
    if filename is not None and (not isinstance(filename, str) or len(filename) > 255):
        raise PayloadError("'media.filename' must be a string of at most 255 characters")
    return MediaRef(url=url, mime=mime, filename=filename, voice=mime.startswith("audio/"))


def _kind(mime: str | None) -> str:
    major = (mime or "").split("/")[0]
    return {"audio": "audio", "image": "image", "video": "video"}.get(major, "document")


class SandboxChannel:
    provider = PROVIDER

    def send_text(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt:
        return SendReceipt(provider_message_id=f"sandbox-{uuid.uuid4().hex}")
