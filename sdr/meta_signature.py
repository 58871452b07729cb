"""Authenticity of Meta's webhooks: `X-Hub-Signature-256` over the raw request body.

The header is "sha256=" + hex(HMAC-SHA256(app secret, body bytes as received)). It must be
checked before the body is parsed: re-serialized JSON (escaped accents, emoji, key order) no
longer matches what Meta signed.
"""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign_body(app_secret: str, body: bytes) -> str:
    """The header value Meta sends for `body` (used by the stand-in and tests)."""
    return PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def signature_matches(app_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the signature of `body` under `app_secret`; compared in constant time."""
    if not app_secret or not header or not header.startswith(PREFIX):
        return False
    expected = sign_body(app_secret, body)
    return hmac.compare_digest(expected.encode("ascii"), header.strip().lower().encode("ascii", "replace"))
