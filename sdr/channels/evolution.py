"""Evolution API v2 (Baileys): `messages.upsert` webhooks in, `sendText` out.

Own API sends come back as `send.message` (ignored); a `fromMe` upsert is a person typing on
the business phone. Groups, status broadcasts, newsletters, reactions and protocol messages
(edits, deletions) are acknowledged and ignored.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from sdr.addresses import AddressError, from_jid, to_jid
from sdr.channels.base import ChipRef, InboundEvent, ParsedWebhook, PayloadError, SendReceipt
from sdr.channels.http import post_json

PROVIDER = "evolution"
IGNORED_SERVERS = {"g.us": "group", "broadcast": "status broadcast", "newsletter": "newsletter"}
IGNORED_TYPES = {
    "reactionMessage": "reaction",
    "protocolMessage": "protocol message",
    "pollUpdateMessage": "poll update",
    "senderKeyDistributionMessage": "key distribution",
}


def parse_webhook(payload: Any) -> ParsedWebhook:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    event = payload.get("event")
    if not isinstance(event, str):
        raise PayloadError("missing 'event'")
    result = ParsedWebhook()
    if event.lower().replace("_", ".") != "messages.upsert":
        result.ignored.append(f"event {event}")
        return result
    instance = payload.get("instance")
    if not isinstance(instance, str) or not instance:
        raise PayloadError("missing 'instance'")
    items = payload.get("data")
    for item in items if isinstance(items, list) else [items]:
        event_or_reason = _parse_item(instance, item)
        if isinstance(event_or_reason, InboundEvent):
            result.events.append(event_or_reason)
        else:
            result.ignored.append(event_or_reason)
    return result


def _parse_item(instance: str, data: Any) -> InboundEvent | str:
    if not isinstance(data, dict) or not isinstance(data.get("key"), dict):
        raise PayloadError("'data.key' must be an object")
    key = data["key"]
    jid, message_id = key.get("remoteJid"), key.get("id")
    if not isinstance(jid, str) or not isinstance(message_id, str) or not message_id:
        raise PayloadError("'data.key.remoteJid' and 'data.key.id' are required")
    server = jid.partition("@")[2]
    if jid == "status@broadcast" or server in IGNORED_SERVERS:
        return IGNORED_SERVERS.get(server, "status broadcast")
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    message_type = data.get("messageType") or next(iter(message), "unknown")
    if not isinstance(message_type, str):
        raise PayloadError("'data.messageType' must be a string")
    if message_type in IGNORED_TYPES:
        return IGNORED_TYPES[message_type]
    try:
        address = from_jid(jid, key.get("remoteJidAlt") or key.get("senderPn"))
    except AddressError as exc:
        raise PayloadError(f"'data.key.remoteJid': {exc}") from None
    try:
        kind, text, media = _content(message_type, message)
    except (AttributeError, TypeError):  # a content field of the wrong type somewhere inside
        raise PayloadError(f"'data.message' does not have the shape of a {message_type}") from None
    from_me = bool(key.get("fromMe"))
    return InboundEvent(
        provider=PROVIDER,
        channel_ref=instance,
        provider_message_id=message_id,
        lead_address=address,
        kind=kind,
        text=text,
        profile_name=None if from_me else _str(data.get("pushName")),
        media=media,
        provider_ts=_timestamp(data.get("messageTimestamp")),
        from_me=from_me,
    )


def _content(message_type: str, message: dict[str, Any]) -> tuple[str, str | None, dict[str, Any] | None]:
    if "conversation" in message or "extendedTextMessage" in message:
        extended = message.get("extendedTextMessage") or {}
        return "text", _str(message.get("conversation")) or _str(extended.get("text")), None
    for field, (kind, describe) in _MEDIA.items():
        body = message.get(field)
        if isinstance(body, dict):
            media = {"mimetype": body.get("mimetype"), "url": body.get("url"), "has_base64": "base64" in message}
            transcript = _str(message.get("speechToText"))
            return kind, transcript or describe(body), media
    return message_type.removesuffix("Message") or "unknown", None, None


def _caption(body: dict[str, Any]) -> str | None:
    return _str(body.get("caption"))


def _location(body: dict[str, Any]) -> str | None:
    parts = [body.get("name"), body.get("address"), f"{body.get('degreesLatitude')},{body.get('degreesLongitude')}"]
    return " - ".join(str(p) for p in parts if p)


def _wrapped_document(body: dict[str, Any]) -> str | None:
    inner = body.get("message", {}).get("documentMessage", {})
    return _caption(inner) or _str(inner.get("fileName"))


def _button(body: dict[str, Any]) -> str | None:
    return _str(body.get("selectedDisplayText") or body.get("title") or body.get("selectedButtonId"))


_MEDIA: dict[str, tuple[str, Callable[[dict[str, Any]], str | None]]] = {
    "imageMessage": ("image", _caption),
    "videoMessage": ("video", _caption),
    "audioMessage": ("audio", lambda body: None),
    "documentMessage": ("document", lambda body: _str(body.get("caption") or body.get("fileName"))),
    "documentWithCaptionMessage": ("document", _wrapped_document),
    "stickerMessage": ("sticker", lambda body: None),
    "locationMessage": ("location", _location),
    "contactMessage": ("contacts", lambda body: _str(body.get("displayName"))),
    "contactsArrayMessage": ("contacts", lambda body: _str(body.get("displayName"))),
    "buttonsResponseMessage": ("button", _button),
    "templateButtonReplyMessage": ("button", _button),
    "listResponseMessage": ("list", _button),
}


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, dict):  # protobuf Long: {"low": ..., "high": ...}
        value = value.get("low")
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class EvolutionChannel:
    provider = PROVIDER

    def __init__(self, api_url: str, api_key: str, timeout: tuple[float, float]):
        self._api_url = api_url.rstrip("/")
        self._headers = {"apikey": api_key}
        self._timeout = timeout

    def send_text(self, chip: ChipRef, to_address: str, text: str) -> SendReceipt:
        url = f"{self._api_url}/message/sendText/{quote(chip.external_id, safe='')}"
        answer = post_json(url, {"number": to_jid(to_address), "text": text}, self._headers, self._timeout)
        key = answer.get("key") if isinstance(answer.get("key"), dict) else {}
        return SendReceipt(provider_message_id=str(key.get("id") or ""))
