"""WhatsApp identities: turning provider JIDs and numbers into lead addresses, and masking them.

A lead address is an E.164 phone ("+5511987654321") or, when a provider gives only an opaque
user id, "lid:<id>". Logs only ever see `mask()`ed addresses.
"""

from __future__ import annotations

import re

_DIGITS = re.compile(r"^\d{8,15}$")
# Phone-like: 10 to 15 digits, optionally split by single spaces, dashes or parentheses (no dots,
# so IP addresses and version numbers are left alone).
_LONG_NUMBER = re.compile(r"(?<![\w.])\+?\(?\d(?:[ ()-]{0,2}\d){9,14}(?!\w|\.\d)")
# UUIDs (Celery task ids, tokens) contain digit groups joined by dashes; they are matched first
# and kept as they are.
_UUID = r"(?P<uuid>\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b)"
_UUID_OR_PHONE = re.compile(_UUID + "|" + _LONG_NUMBER.pattern)


class AddressError(ValueError):
    """A value that cannot be a WhatsApp identity."""


def e164(digits: str) -> str:
    """'5511987654321' or '+55 11 98765-4321' -> '+5511987654321'."""
    cleaned = re.sub(r"[^\d]", "", digits)
    if not _DIGITS.match(cleaned):
        raise AddressError("not a phone number (expected 8 to 15 digits)")
    return "+" + cleaned


def from_jid(jid: str, alt_jid: str | None = None) -> str:
    """Address of a 1:1 chat JID; `@lid` JIDs resolve through the alternate JID when given."""
    user, _, server = jid.partition("@")
    user = user.split(":", 1)[0]  # device suffix ("5511...:12@s.whatsapp.net")
    if server in ("s.whatsapp.net", "c.us", ""):
        return e164(user)
    if server == "lid":
        if alt_jid and alt_jid.endswith(("@s.whatsapp.net", "@c.us")):
            return from_jid(alt_jid)
        if not user.isdigit():
            raise AddressError("malformed @lid identity")
        return f"lid:{user}"
    raise AddressError(f"unsupported chat type @{server}")


def to_jid(address: str) -> str:
    """What a Baileys-based provider expects as the recipient of a message to `address`."""
    if address.startswith("lid:"):
        return address[4:] + "@lid"
    return address.lstrip("+")


def mask(address: str | None) -> str:
    """'+5511987654321' -> '+55*******4321' — enough to correlate, not enough to identify."""
    if not address:
        return "-"
    if address.startswith("lid:"):
        return "lid:***" + address[-3:]
    return address[:3] + "*" * max(len(address) - 7, 3) + address[-4:]


def scrub(text: str) -> str:
    """Mask every phone-like run of digits in free text (log lines, error messages)."""
    return _UUID_OR_PHONE.sub(
        lambda m: m.group() if m.group("uuid") else mask("+" + re.sub(r"\D", "", m.group())), text
    )
