"""Meta WhatsApp Cloud API: batched `messages` webhooks in; Graph API sends out.

Inbound, every `entry[] x changes[] x value.messages[] / statuses[] / errors[]` item is read; a
malformed item is skipped with a reason rather than failing the whole batch (Meta would then
redeliver every good item with it). The chip is `metadata.phone_number_id`.

Outbound sending, error classification and templates live in `sdr.channels.meta_send`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from sdr.addresses import AddressError, e164
from sdr.channels.base import InboundEvent, MediaRef, ParsedWebhook, PayloadError, StatusUpdate

PROVIDER = "meta"
MEDIA_KINDS = ("audio", "image", "document", "video", "sticker")
# Meta's "played" (first play of a voice note) comes after "read"; nothing further is tracked.
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "played": "read", "failed": "failed"}
IGNORED_TYPES = {"reaction": "reaction", "system": "system message", "unsupported": "unsupported message",
                 "order": "order", "ephemeral": "ephemeral message", "request_welcome": "welcome request"}

log = logging.getLogger(__name__)


def parse_webhook(payload: Any) -> ParsedWebhook:
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    result = ParsedWebhook()
    if payload.get("object") != "whatsapp_business_account":
        result.ignored.append(f"object {payload.get('object')!r}")
        return result
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("'entry' must be a list")
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise PayloadError("'entry[].changes' must be a list")
        for change in changes:
            _parse_change(change, result)
    return result


def _parse_change(change: Any, result: ParsedWebhook) -> None:
    if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
        raise PayloadError("'entry[].changes[].value' must be an object")
    if change.get("field") != "messages":
        result.ignored.append(f"field {change.get('field')!r}")
        return
    value = change["value"]
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    chip = metadata.get("phone_number_id")
    if not isinstance(chip, str) or not chip:
        raise PayloadError("'value.metadata.phone_number_id' is required")
    names = _profile_names(value.get("contacts"))
    for item in _items(value, "messages"):
        try:
            event = _parse_message(chip, item, names)
        except PayloadError as exc:
            event = f"malformed message: {exc}"
        (result.events if isinstance(event, InboundEvent) else result.ignored).append(event)  # type: ignore[arg-type]
    for item in _items(value, "statuses"):
        status = _parse_status(item)
        (result.statuses if isinstance(status, StatusUpdate) else result.ignored).append(status)  # type: ignore[arg-type]
    for error in _items(value, "errors"):
        code = error.get("code") if isinstance(error, dict) else None
        log.warning("Meta reported an error for phone number id %s: code %s", chip, code)
        result.ignored.append(f"error {code}")


def _items(value: dict[str, Any], key: str) -> list[Any]:
    items = value.get(key)
    return items if isinstance(items, list) else []


def _profile_names(contacts: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for contact in contacts if isinstance(contacts, list) else []:
        if isinstance(contact, dict) and isinstance(contact.get("profile"), dict):
            key = contact.get("wa_id") or contact.get("user_id")
            name = _str(contact["profile"].get("name"))
            if isinstance(key, str) and name:
                names[key] = name
    return names


def _lead_address(message: dict[str, Any]) -> tuple[str, str]:
    """(address, contacts key): E.164 from `from`; a business-scoped user id when no phone is given."""
    sender = message.get("from")
    if isinstance(sender, str) and sender:
        try:
            return e164(sender), sender
        except AddressError as exc:
            raise PayloadError(f"'from': {exc}") from None
    user_id = message.get("from_user_id")
    if isinstance(user_id, str) and user_id:
        return f"meta:{user_id}", user_id
    raise PayloadError("'from' (or 'from_user_id') is required")


def _parse_message(chip: str, message: Any, names: dict[str, str]) -> InboundEvent | str:
    if not isinstance(message, dict):
        raise PayloadError("each message must be an object")
    message_id, kind = message.get("id"), message.get("type")
    if not isinstance(message_id, str) or not message_id:
        raise PayloadError("'id' is required")
    if kind in IGNORED_TYPES:
        return IGNORED_TYPES[kind]
    reader = _READERS.get(kind) if isinstance(kind, str) else None
    if reader is None:
        return f"type {kind!r}"
    address, contact_key = _lead_address(message)
    body = message.get(kind)
    if not isinstance(body, list if kind == "contacts" else dict):
        raise PayloadError(f"'{kind}' is missing or of the wrong type")
    try:
        event_kind, text, media, extra = reader(kind, body)
    except (AttributeError, TypeError, ValueError):
        raise PayloadError(f"'{kind}' does not have the shape of a {kind} message") from None
    context = {**_context(message), **extra}
    return InboundEvent(
        provider=PROVIDER, channel_ref=chip, provider_message_id=message_id, lead_address=address,
        kind=event_kind, text=text, profile_name=names.get(contact_key), media=media, context=context or None,
        provider_ts=_timestamp(message.get("timestamp")),
    )


Read = tuple[str, "str | None", "MediaRef | None", dict[str, Any]]


def _text(kind: str, body: dict[str, Any]) -> Read:
    text = _str(body.get("body"))
    if text is None:
        raise ValueError("empty text")
    return "text", text, None, {}


def _media(kind: str, body: dict[str, Any]) -> Read:
    if not isinstance(body.get("id"), str) and not isinstance(body.get("url"), str):
        raise ValueError("media without id")
    media: MediaRef = {"provider_media_id": body.get("id"), "mime": body.get("mime_type"),
                       "sha256": body.get("sha256"), "url": body.get("url"), "voice": bool(body.get("voice"))}
    caption, filename = _str(body.get("caption")), _str(body.get("filename"))
    if caption:
        media["caption"] = caption
    if filename:
        media["filename"] = filename
    return kind, caption or (filename if kind == "document" else None), media, {}


def _location(kind: str, body: dict[str, Any]) -> Read:
    lat, lon = float(body["latitude"]), float(body["longitude"])
    parts = [_str(body.get("name")), _str(body.get("address")), f"{lat},{lon}"]
    place = {"latitude": lat, "longitude": lon, "name": body.get("name"), "address": body.get("address")}
    return "location", " - ".join(p for p in parts if p), None, {"location": place}


def _interactive(kind: str, body: dict[str, Any]) -> Read:
    reply_type = body.get("type")
    reply = body.get(reply_type) if isinstance(reply_type, str) else None
    if reply_type not in ("button_reply", "list_reply", "nfm_reply") or not isinstance(reply, dict):
        raise ValueError("unknown interactive reply")
    if reply_type == "nfm_reply":  # a WhatsApp Flow's answer
        return "button", _str(reply.get("body")) or "(formulário enviado)", None, {"flow_response": reply}
    extra = {"button_id" if reply_type == "button_reply" else "list_id": reply.get("id")}
    if reply.get("description"):
        extra["list_description"] = reply["description"]
    return ("button" if reply_type == "button_reply" else "list"), _str(reply.get("title")), None, extra


def _button(kind: str, body: dict[str, Any]) -> Read:
    text = _str(body.get("text")) or _str(body.get("payload"))
    return "button", text, None, {"button_payload": body.get("payload")}


def _context(message: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {}
    quoted = message.get("context") if isinstance(message.get("context"), dict) else {}
    if quoted.get("id"):
        context["reply_to"] = quoted["id"]
    if quoted.get("forwarded") or quoted.get("frequently_forwarded"):
        context["forwarded"] = True
    if isinstance(quoted.get("referred_product"), dict):
        context["referred_product"] = quoted["referred_product"]
    referral = message.get("referral")
    if isinstance(referral, dict):  # Click-to-WhatsApp ad
        keys = ("source_url", "source_id", "source_type", "headline", "body", "media_type", "ctwa_clid")
        context["referral"] = {k: referral[k] for k in keys if k in referral}
    return context


def _contacts(kind: str, cards: Any) -> Read:
    if not isinstance(cards, list) or not cards:
        raise ValueError("no contacts")
    shared, lines = [], []
    for card in cards:
        name = (card.get("name") or {}).get("formatted_name")
        phones = [p.get("phone") or p.get("wa_id") for p in card.get("phones") or [] if isinstance(p, dict)]
        shared.append({"name": name, "phones": phones})
        lines.append(": ".join(filter(None, [name, ", ".join(filter(None, phones))])))
    return "contacts", "\n".join(lines) or None, None, {"contacts": shared}


_READERS = {"text": _text, "location": _location, "interactive": _interactive, "button": _button,
            "contacts": _contacts, **{k: _media for k in MEDIA_KINDS}}


def _parse_status(item: Any) -> StatusUpdate | str:
    if not isinstance(item, dict) or not isinstance(item.get("id"), str):
        return "malformed status"
    status = STATUSES.get(item.get("status"))  # type: ignore[arg-type]
    if status is None:
        return f"status {item.get('status')!r}"
    errors = item.get("errors") if isinstance(item.get("errors"), list) else []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    details = first.get("error_data", {}).get("details") if isinstance(first.get("error_data"), dict) else None
    return StatusUpdate(
        provider=PROVIDER, provider_message_id=item["id"], status=status, at=_timestamp(item.get("timestamp")),
        error_code=str(first["code"]) if first.get("code") is not None else None,
        error_text=_str(details) or _str(first.get("title")),
    )


def _str(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
