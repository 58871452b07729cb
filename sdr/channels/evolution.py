"""Evolution API v2 (Baileys): `messages.upsert` and `messages.update` webhooks in; text, media and
presence out.

Own API sends come back as `send.message` (ignored); a `fromMe` upsert is a person typing on
the business phone. Groups, status broadcasts, newsletters, reactions and protocol messages
(edits, deletions) are acknowledged and ignored. Media arrive with the encrypted WhatsApp CDN
URL, which is useless on its own: the reference keeps the inline base64 or S3 `mediaUrl` when
present and the message key id, with which `getBase64FromMediaMessage` fetches the bytes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from sdr.addresses import AddressError, from_jid, to_jid
from sdr.channels.base import (
    ChipRef,
    InboundEvent,
    MediaRef,
    ParsedWebhook,
    PayloadError,
    SendReceipt,
    StatusUpdate,
)
from sdr.channels.content import compact, contacts_text, location_text, text_of, vcard_contact
from sdr.channels.http import post_json

PROVIDER = "evolution"
IGNORED_SERVERS = {"g.us": "group", "broadcast": "status broadcast", "newsletter": "newsletter"}
IGNORED_TYPES = {
    "reactionMessage": "reaction",
    "protocolMessage": "protocol message",
    "editedMessage": "edit",
    "pollUpdateMessage": "poll update",
    "senderKeyDistributionMessage": "key distribution",
}
# renderStatus: 0 ERROR, 1 PENDING, 2 SERVER_ACK, 3 DELIVERY_ACK, 4 READ, 5 PLAYED
STATUSES = {"ERROR": "failed", "SERVER_ACK": "sent", "DELIVERY_ACK": "delivered", "READ": "read", "PLAYED": "read"}
STATUS_NUMBERS = {0: "ERROR", 1: "PENDING", 2: "SERVER_ACK", 3: "DELIVERY_ACK", 4: "READ", 5: "PLAYED"}
MEDIA_ENDPOINT_TYPES = {"image", "video", "document", "audio"}


def parse_webhook(payload: Any) -> ParsedWebhook:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    event = payload.get("event")
    if not isinstance(event, str):
        raise PayloadError("missing 'event'")
    result = ParsedWebhook()
    name = event.lower().replace("_", ".")
    if name not in ("messages.upsert", "messages.update"):
        result.ignored.append(f"event {event}")
        return result
    instance = payload.get("instance")
    if not isinstance(instance, str) or not instance:
        raise PayloadError("missing 'instance'")
    items = payload.get("data")
    for item in items if isinstance(items, list) else [items]:
        outcome = _parse_item(instance, item) if name == "messages.upsert" else _parse_status(item)
        if isinstance(outcome, InboundEvent):
            result.events.append(outcome)
        elif isinstance(outcome, StatusUpdate):
            result.statuses.append(outcome)
        else:
            result.ignored.append(outcome)
    return result


def _parse_status(data: Any) -> StatusUpdate | str:
    """One `messages.update` item: v2 `{keyId, fromMe, status}` or the older `{key, update: {status}}`."""
    if not isinstance(data, dict):
        raise PayloadError("'data' of messages.update must be an object")
    key = data.get("key") if isinstance(data.get("key"), dict) else {}
    message_id = data.get("keyId") or key.get("id")
    update = data.get("update") if isinstance(data.get("update"), dict) else {}
    raw = data.get("status", update.get("status"))
    if not isinstance(message_id, str) or not message_id or raw is None:
        raise PayloadError("messages.update needs 'data.keyId' (or 'data.key.id') and 'data.status'")
    if data.get("fromMe", key.get("fromMe", True)) is False:
        return "status of an inbound message"
    status = STATUSES.get(STATUS_NUMBERS.get(raw, "") if isinstance(raw, int) else str(raw).upper())
    if status is None:
        return f"status {raw}"
    return StatusUpdate(provider=PROVIDER, provider_message_id=message_id, status=status,
                        at=_timestamp(data.get("messageTimestamp") or data.get("datetime")))


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
        kind, text, media, context = _content(message_type, message, message_id)
        context = compact({**(context or {}), **_context(data, message)})
    except (AttributeError, TypeError, ValueError):  # a content field of the wrong type somewhere inside
        raise PayloadError(f"'data.message' does not have the shape of a {message_type}") from None
    from_me = bool(key.get("fromMe"))
    return InboundEvent(
        provider=PROVIDER,
        channel_ref=instance,
        provider_message_id=message_id,
        lead_address=address,
        kind=kind,
        text=text,
        profile_name=None if from_me else text_of(data.get("pushName")),
        media=media,
        context=context,
        provider_ts=_timestamp(data.get("messageTimestamp")),
        from_me=from_me,
    )


Content = tuple[str, str | None, MediaRef | None, dict[str, Any] | None]


def _content(message_type: str, message: dict[str, Any], message_id: str) -> Content:
    if "conversation" in message or "extendedTextMessage" in message:
        extended = message.get("extendedTextMessage") or {}
        return "text", text_of(message.get("conversation")) or text_of(extended.get("text")), None, None
    for field, (kind, describe) in _MEDIA.items():
        body = message.get(field)
        if isinstance(body, dict):
            if field == "documentWithCaptionMessage":
                body = body.get("message", {}).get("documentMessage", {})
            media = _media_ref(body, message, message_id, voice=bool(body.get("ptt")))
            transcript = text_of(message.get("speechToText"))
            return kind, transcript or text_of(body.get("caption")) or describe(body), media, None
    for field, (kind, read) in _REPLIES.items():
        body = message.get(field)
        if isinstance(body, dict):
            text, context = read(body)
            return kind, text, None, context
    for field, read_text in _TEXTUAL.items():
        body = message.get(field)
        if isinstance(body, dict):
            return _TEXTUAL_KIND[field], read_text(body), None, None
    return message_type.removesuffix("Message") or "unknown", None, None, None


def _media_ref(body: dict[str, Any], message: dict[str, Any], message_id: str, voice: bool) -> MediaRef:
    size = body.get("fileLength")
    ref: dict[str, Any] = compact({
        "mime": body.get("mimetype"),
        "url": text_of(message.get("mediaUrl")),  # S3 copy, when the instance uploads media
        "provider_media_id": message_id,  # for /chat/getBase64FromMediaMessage
        "base64": message.get("base64") if isinstance(message.get("base64"), str) else None,
        "size": int(size) if isinstance(size, (int, str)) and str(size).isdigit() else None,
        "filename": text_of(body.get("fileName")),
        "caption": text_of(body.get("caption")),
        "sha256": text_of(body.get("fileSha256")),
    }) or {}
    return MediaRef(**ref, voice=voice)  # type: ignore[typeddict-item]


def _context(data: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """Quoted message and ad referral, from `data.contextInfo` or the content's own contextInfo."""
    infos = [data.get("contextInfo")] + [v.get("contextInfo") for v in message.values() if isinstance(v, dict)]
    found: dict[str, Any] = {}
    for info in (i for i in infos if isinstance(i, dict)):
        quoted = info.get("quotedMessage") if isinstance(info.get("quotedMessage"), dict) else {}
        if info.get("stanzaId"):
            found.setdefault("quoted_id", info["stanzaId"])
            quoted_text = _quoted_text(quoted)
            if quoted_text:
                found.setdefault("quoted_text", quoted_text)
        ad = info.get("externalAdReply")
        if isinstance(ad, dict):
            found.setdefault("referral", compact({
                "source_url": ad.get("sourceUrl"), "source_id": ad.get("sourceId"),
                "source_type": ad.get("sourceType"), "headline": ad.get("title"), "body": ad.get("body"),
                "media_url": ad.get("mediaUrl") or ad.get("thumbnailUrl"), "ctwa_clid": ad.get("ctwaClid"),
            }))
    return found


def _quoted_text(quoted: dict[str, Any]) -> str | None:
    if text_of(quoted.get("conversation")):
        return text_of(quoted["conversation"])
    for value in quoted.values():
        if isinstance(value, dict) and (text_of(value.get("text")) or text_of(value.get("caption"))):
            return text_of(value.get("text")) or text_of(value.get("caption"))
    return None


def _location(body: dict[str, Any]) -> str:
    return location_text(body.get("degreesLatitude"), body.get("degreesLongitude"), body.get("name"),
                         body.get("address"))


def _contacts(body: dict[str, Any]) -> str | None:
    cards = body.get("contacts") if isinstance(body.get("contacts"), list) else [body]
    entries = []
    for card in cards:
        name, phones = vcard_contact(card.get("vcard"))
        entries.append((text_of(card.get("displayName")) or name, phones))
    return contacts_text(entries)


def _button(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    button_id = body.get("selectedButtonId") or body.get("selectedId")
    text = text_of(body.get("selectedDisplayText")) or text_of(button_id)
    return text, compact({"button_id": button_id})


def _list(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    reply = body.get("singleSelectReply") if isinstance(body.get("singleSelectReply"), dict) else {}
    row_id = reply.get("selectedRowId")
    return text_of(body.get("title")) or text_of(row_id), compact({"list_id": row_id})


def _interactive(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    inner = body.get("body") if isinstance(body.get("body"), dict) else {}
    flow = body.get("nativeFlowResponseMessage") if isinstance(body.get("nativeFlowResponseMessage"), dict) else {}
    return text_of(inner.get("text")), compact({"button_id": flow.get("paramsJson")})


_MEDIA: dict[str, tuple[str, Callable[[dict[str, Any]], str | None]]] = {
    "imageMessage": ("image", lambda body: None),
    "videoMessage": ("video", lambda body: None),
    "audioMessage": ("audio", lambda body: None),
    "documentMessage": ("document", lambda body: text_of(body.get("fileName"))),
    "documentWithCaptionMessage": ("document", lambda body: text_of(body.get("fileName"))),
    "stickerMessage": ("sticker", lambda body: None),
}
_REPLIES: dict[str, tuple[str, Callable[[dict[str, Any]], tuple[str | None, dict[str, Any] | None]]]] = {
    "buttonsResponseMessage": ("button", _button),
    "templateButtonReplyMessage": ("button", _button),
    "listResponseMessage": ("list", _list),
    "interactiveResponseMessage": ("button", _interactive),
}
_TEXTUAL: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "locationMessage": _location,
    "liveLocationMessage": _location,
    "contactMessage": _contacts,
    "contactsArrayMessage": _contacts,
}
_TEXTUAL_KIND = {"locationMessage": "location", "liveLocationMessage": "location", "contactMessage": "contacts",
                 "contactsArrayMessage": "contacts"}


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

    def _url(self, endpoint: str, chip: ChipRef) -> str:
        return f"{self._api_url}/message/{endpoint}/{quote(chip.external_id, safe='')}"

    def send_text(self, chip: ChipRef, to_address: str, text: str, typing_seconds: float = 0) -> SendReceipt:
        """`typing_seconds` shows "digitando..." that long before the message (Evolution's `delay`)."""
        body: dict[str, Any] = {"number": to_jid(to_address), "text": text}
        if typing_seconds > 0:
            body["delay"] = int(typing_seconds * 1000)
        return _receipt(post_json(self._url("sendText", chip), body, self._headers, self._timeout))

    def send_media(self, chip: ChipRef, to_address: str, url: str, mime: str, caption: str | None = None,
                   filename: str | None = None) -> SendReceipt:
        """An attachment by URL (`sendMedia`); the provider downloads it."""
        mediatype = mime.split("/", 1)[0] if mime.split("/", 1)[0] in MEDIA_ENDPOINT_TYPES else "document"
        body = {"number": to_jid(to_address), "mediatype": mediatype, "mimetype": mime, "media": url,
                **({"caption": caption} if caption else {}), **({"fileName": filename} if filename else {})}
        return _receipt(post_json(self._url("sendMedia", chip), body, self._headers, self._timeout))

    def send_typing(self, chip: ChipRef, to_address: str, seconds: float) -> None:
        """Show "digitando..." to the lead for `seconds` (the call returns when it ends)."""
        body = {"number": to_jid(to_address), "presence": "composing", "delay": int(seconds * 1000)}
        post_json(self._url("sendPresence", chip), body, self._headers, self._timeout)


def _receipt(answer: dict[str, Any]) -> SendReceipt:
    key = answer.get("key") if isinstance(answer.get("key"), dict) else {}
    return SendReceipt(provider_message_id=str(key.get("id") or ""))
