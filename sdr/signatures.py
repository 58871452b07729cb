"""Webhook authenticity: Twilio's `X-Twilio-Signature` and constant-time shared secrets.

Twilio signs the full URL it requested (scheme through query string) followed by every POST
parameter, names sorted, each name immediately followed by its value (a repeated name
contributes each of its values, sorted), with HMAC-SHA1 keyed by the account's auth token, in
base64. Twilio may or may not have included the default port in the URL it signed, so both forms
are accepted. Every comparison runs in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Iterable
from urllib.parse import urlsplit, urlunsplit

DEFAULT_PORTS = {"https": 443, "http": 80}


def secret_equal(given: str | None, expected: str) -> bool:
    """Constant-time equality of a presented shared secret; an empty expected secret never matches."""
    if not expected or given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def twilio_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The signature Twilio sends for a POST of `params` (decoded values) to `url`."""
    grouped: dict[str, list[str]] = {}
    for name, value in params:
        grouped.setdefault(name, []).append(value)
    payload = url + "".join(name + value for name in sorted(grouped) for value in sorted(grouped[name]))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_variants(url: str) -> list[str]:
    """`url` as given, and with its scheme's default port added or removed."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    if parts.port is None and default is not None:
        other = parts._replace(netloc=f"{prefix}{host}:{default}")
    elif parts.port is not None and parts.port == default:
        other = parts._replace(netloc=prefix + host)
    else:
        return [url]
    return [url, urlunsplit(other)]


def twilio_signature_valid(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str) -> bool:
    """True when `given` is Twilio's signature of `params` for `url` (with or without default port)."""
    if not auth_token or not given:
        return False
    params = list(params)
    matches = [hmac.compare_digest(twilio_signature(auth_token, candidate, params).encode(), given.encode())
               for candidate in url_variants(url)]
    return any(matches)


def well_formed_twilio_signature(given: str) -> bool:
    """A base64 HMAC-SHA1 (20 bytes): anything else is not a signature at all."""
    try:
        return len(base64.b64decode(given, validate=True)) == 20
    except ValueError:
        return False
