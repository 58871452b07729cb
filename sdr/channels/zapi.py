"""Z-API: `ReceivedCallback` / `MessageStatusCallback` / `DeliveryCallback` webhooks in; text, media and
typing out (`/instances/{id}/token/{token}/send-*`, header `Client-Token`).

`fromMe` messages sent through the API (`fromApi: true`) are our own sends and are ignored; a
`fromMe` message that did not come through the API is a person typing on the business phone and
pauses the bot. Groups (`isGroup`, `…-group` phones), newsletters, status broadcasts, edits,
reactions, poll votes and system notifications are acknowledged and ignored.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote

from sdr.addresses import AddressError, e164
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

PROVIDER = "zapi"
STATUSES = {"SENT": "sent", "RECEIVED": "delivered", "DELIVERED": "delivered", "READ": "read", "PLAYED": "read",
            "FAILED": "failed", "ERROR": "failed"}
MAX_TYPING_SECONDS = 15  # delayTyping accepts 1-15 s
MEDIA_ENDPOINTS = {"image": ("send-image", "image"), "audio": ("send-audio", "audio"),
                   "video": ("send-video", "video")}
# waitingMessage: the content is not decrypted yet; storing it would make the real delivery, which
# carries the same messageId, a duplicate.
IGNORED_FLAGS = (("isGroup", "group"), ("isNewsletter", "newsletter"), ("broadcast", "status broadcast"),
                 ("isStatusReply", "status reply"), ("isEdit", "edit"), ("waitingMessage", "waiting for content"))
IGNORED_CONTENT = {"reaction": "reaction", "pollVote": "poll vote", "notification": "notification"}


def parse_webhook(payload: Any) -> ParsedWebhook:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise PayloadError("missing 'type'")
    result = ParsedWebhook()
    if kind == "ReceivedCallback":
        outcome = _parse_message(payload)
        if isinstance(outcome, InboundEvent):
            result.events.append(outcome)
        else:
            result.ignored.append(outcome)
    elif kind in ("MessageStatusCallback", "DeliveryCallback"):
        result.statuses.extend(_parse_status(kind, payload, result.ignored))
    else:
        result.ignored.append(f"event {kind}")
    return result


def _parse_status(kind: str, payload: dict[str, Any], ignored: list[str]) -> list[StatusUpdate]:
    if kind == "DeliveryCallback":  # the send left Z-API; `error` says it could not
        ids, status = [payload.get("messageId")], "failed" if payload.get("error") else "sent"
    else:
        ids, raw = payload.get("ids"), payload.get("status")
        status = STATUSES.get(str(raw).upper()) if raw is not None else None
        if status is None:
            ignored.append(f"status {raw}")  # READ_BY_ME: we read the lead's message
            return []
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
        raise PayloadError(f"{kind} needs message ids ('ids' or 'messageId')")
    error = text_of(payload.get("error"))
    return [StatusUpdate(provider=PROVIDER, provider_message_id=i, status=status, at=_timestamp(payload.get("momment")),
                         error_text=error if status == "failed" else None) for i in ids]


def _parse_message(payload: dict[str, Any]) -> InboundEvent | str:
    instance, message_id, phone = payload.get("instanceId"), payload.get("messageId"), payload.get("phone")
    if not all(isinstance(v, str) and v for v in (instance, message_id, phone)):
        raise PayloadError("'instanceId', 'messageId' and 'phone' are required")
    if phone.endswith("-group") or phone.endswith("@g.us"):
        return "group"
    for flag, reason in IGNORED_FLAGS:
        if payload.get(flag) is True:
            return reason
    for field, reason in IGNORED_CONTENT.items():
        if payload.get(field):
            return reason
    from_me = payload.get("fromMe") is True
    if from_me and payload.get("fromApi") is True:
        return "own API send"
    try:
        kind, text, media, context = _content(payload)
    except (AttributeError, TypeError, ValueError):
        raise PayloadError("the message content does not have the shape Z-API sends") from None
    return InboundEvent(
        provider=PROVIDER,
        channel_ref=instance,
        provider_message_id=message_id,
        lead_address=_address(phone, payload),
        kind=kind,
        text=text,
        profile_name=None if from_me else text_of(payload.get("senderName")) or text_of(payload.get("chatName")),
        media=media,
        context=compact({**(context or {}), **_context(payload)}),
        provider_ts=_timestamp(payload.get("momment")),
        from_me=from_me,
    )


def _address(phone: str, payload: dict[str, Any]) -> str:
    """The phone when Z-API gives one; the lead's LID otherwise."""
    try:
        if "@" not in phone:
            return e164(phone)
    except AddressError:
        pass
    lid = next((v for v in (phone, payload.get("chatLid"), payload.get("senderLid"))
                if isinstance(v, str) and v.endswith("@lid")), None)
    if lid and lid.partition("@")[0].isdigit():
        return "lid:" + lid.partition("@")[0]
    raise PayloadError("'phone': not a phone number and no @lid identity given")


Content = tuple[str, str | None, MediaRef | None, dict[str, Any] | None]


def _content(payload: dict[str, Any]) -> Content:
    text = payload.get("text")
    if isinstance(text, dict):
        return "text", text_of(text.get("message")), None, None
    for field, (kind, url_field) in _MEDIA.items():
        body = payload.get(field)
        if isinstance(body, dict):
            if not isinstance(body.get(url_field), str) or not body[url_field]:
                raise ValueError(f"'{field}.{url_field}' must be a URL")
            media = MediaRef(**(compact({  # type: ignore[typeddict-item]
                "mime": body.get("mimeType"), "url": body.get(url_field), "caption": text_of(body.get("caption")),
                "filename": text_of(body.get("fileName")) or text_of(body.get("title")),
            }) or {}), voice=bool(body.get("ptt")))
            return kind, text_of(body.get("caption")) or media.get("filename"), media, None
    for field, read in _OTHER.items():
        body = payload.get(field)
        if isinstance(body, dict):
            return read(body)
    return "unknown", None, None, None


_MEDIA = {"image": ("image", "imageUrl"), "audio": ("audio", "audioUrl"), "video": ("video", "videoUrl"),
          "document": ("document", "documentUrl"), "sticker": ("sticker", "stickerUrl")}


def _location(body: dict[str, Any]) -> Content:
    text = location_text(body.get("latitude"), body.get("longitude"), body.get("name"), body.get("address"))
    return "location", text, None, None


def _contact(body: dict[str, Any]) -> Content:
    name, phones = vcard_contact(body.get("vCard"))
    listed = [p for p in body.get("phones") or [] if isinstance(p, str)]
    return "contacts", contacts_text([(text_of(body.get("displayName")) or name, listed or phones)]), None, None


def _button(body: dict[str, Any]) -> Content:
    return "button", text_of(body.get("message")) or text_of(body.get("buttonId")), None, \
        compact({"button_id": body.get("buttonId")})


def _list(body: dict[str, Any]) -> Content:
    text = text_of(body.get("title")) or text_of(body.get("message")) or text_of(body.get("selectedRowId"))
    return "list", text, None, compact({"list_id": body.get("selectedRowId")})


_OTHER: dict[str, Callable[[dict[str, Any]], Content]] = {
    "location": _location, "contact": _contact, "buttonsResponseMessage": _button,
    "listResponseMessage": _list,
}


def _context(payload: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if text_of(payload.get("referenceMessageId")):
        found["quoted_id"] = payload["referenceMessageId"]
    ad = payload.get("externalAdReply")
    text = payload.get("text") if isinstance(payload.get("text"), dict) else {}
    if isinstance(ad, dict):
        found["referral"] = compact({
            "source_url": ad.get("sourceUrl") or text.get("url"), "source_id": ad.get("sourceId"),
            "source_type": ad.get("sourceType"), "headline": ad.get("title") or text.get("title"),
            "body": ad.get("body") or text.get("description"), "media_url": ad.get("thumbnailUrl"),
            "ctwa_clid": ad.get("ctwaClid"),
        })
    return found


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc)  # momment is in milliseconds
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def digits_of(address: str) -> str:
    """Z-API's recipient: digits only (a LID is sent as `<id>@lid`)."""
    return address[4:] + "@lid" if address.startswith("lid:") else address.lstrip("+")


class ZapiChannel:
    provider = PROVIDER

    def __init__(self, base_url: str, token: str, client_token: str, timeout: tuple[float, float]):
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._headers = {"Client-Token": client_token} if client_token else {}
        self._timeout = timeout

    def _url(self, chip: ChipRef, endpoint: str) -> str:
        return f"{self._base_url}/instances/{quote(chip.external_id, safe='')}/token/{quote(self._token, safe='')}" \
               f"/{endpoint}"

    def send_text(self, chip: ChipRef, to_address: str, text: str, typing_seconds: float = 0) -> SendReceipt:
        """`typing_seconds` (rounded, 1-15) shows "digitando..." first (`delayTyping`)."""
        body: dict[str, Any] = {"phone": digits_of(to_address), "message": text}
        if typing_seconds > 0:
            body["delayTyping"] = max(1, min(MAX_TYPING_SECONDS, round(typing_seconds)))
        return _receipt(post_json(self._url(chip, "send-text"), body, self._headers, self._timeout))

    def send_media(self, chip: ChipRef, to_address: str, url: str, mime: str, caption: str | None = None,
                   filename: str | None = None) -> SendReceipt:
        kind = mime.split("/", 1)[0]
        if kind in MEDIA_ENDPOINTS:
            endpoint, field = MEDIA_ENDPOINTS[kind]
        else:
            extension = (filename or "").rpartition(".")[2] or mime.rpartition("/")[2] or "pdf"
            endpoint, field = f"send-document/{quote(extension, safe='')}", "document"
        body: dict[str, Any] = {"phone": digits_of(to_address), field: url}
        if caption and kind != "audio":
            body["caption"] = caption
        if filename and field == "document":
            body["fileName"] = filename
        return _receipt(post_json(self._url(chip, endpoint), body, self._headers, self._timeout))


def _receipt(answer: dict[str, Any]) -> SendReceipt:
    return SendReceipt(provider_message_id=str(answer.get("messageId") or answer.get("id") or ""))
