"""How non-text message content reads as text, the same way for every provider.

Locations and shared contacts have no caption; the agent still needs to read them, so they become
short pt-BR texts ("[localização] ...", "[contato] ..."). The `context` keys of an inbound event are
named here too, so every adapter fills them alike:

- `quoted_id` / `quoted_text`: the message the lead replied to (quoted);
- `button_id` / `list_id`: the id behind a tapped button or a chosen list row;
- `referral`: a Click-to-WhatsApp ad the conversation started from (source_url, source_id,
  source_type, headline, body, media_url, ctwa_clid — whichever the provider gives).
"""

from __future__ import annotations

import re
from typing import Any, Iterable

_VCARD_TEL = re.compile(r"^(?:item\d+\.)?TEL[^:\n]*:(.+)$", re.IGNORECASE | re.MULTILINE)
_VCARD_WAID = re.compile(r"waid=(\d+)", re.IGNORECASE)
_VCARD_NAME = re.compile(r"^FN[^:\n]*:(.+)$", re.IGNORECASE | re.MULTILINE)


def text_of(value: Any) -> str | None:
    """A stripped non-empty string, or None for anything else."""
    return value.strip() or None if isinstance(value, str) else None


def location_text(latitude: Any, longitude: Any, name: Any = None, address: Any = None) -> str:
    place = " - ".join(p for p in (text_of(name), text_of(address)) if p)
    coordinates = f"{latitude}, {longitude}" if latitude is not None and longitude is not None else ""
    parts = [p for p in (place, f"({coordinates})" if coordinates and place else coordinates) if p]
    return "[localização] " + (" ".join(parts) or "sem detalhes")


def vcard_contact(vcard: Any) -> tuple[str | None, list[str]]:
    """(name, phones) of one vCard; phones prefer the WhatsApp id (waid) when present."""
    if not isinstance(vcard, str):
        return None, []
    name_match = _VCARD_NAME.search(vcard)
    phones = []
    for match in _VCARD_TEL.finditer(vcard):
        waid = _VCARD_WAID.search(match.group(0))
        phones.append("+" + waid.group(1) if waid else match.group(1).strip())
    return (name_match.group(1).strip() if name_match else None), phones


def contacts_text(contacts: Iterable[tuple[str | None, list[str]]]) -> str | None:
    entries = []
    for name, phones in contacts:
        entry = ", ".join(phones)
        entries.append(f"{name}: {entry}" if name and entry else name or entry)
    entries = [e for e in entries if e]
    return "[contato] " + "; ".join(entries) if entries else None


def compact(mapping: dict[str, Any]) -> dict[str, Any] | None:
    """The mapping without empty values; None when nothing is left."""
    kept = {k: v for k, v in mapping.items() if v not in (None, "", [], {})}
    return kept or None


def media_kind(mime: str | None) -> str:
    """The message kind of an attachment known only by its MIME type (Twilio)."""
    mime = (mime or "").lower()
    if mime == "image/webp":
        return "sticker"
    if mime in ("text/vcard", "text/x-vcard"):
        return "contacts"
    for prefix in ("image", "audio", "video"):
        if mime.startswith(prefix + "/"):
            return prefix
    return "document"
