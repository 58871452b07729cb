"""Access to the app's settings and the checks shared by blueprints (secrets, bearer tokens, signed URLs)."""

from __future__ import annotations

import hmac

from flask import abort, current_app, request

from sdr.settings import Settings
from sdr.signatures import secret_equal


def settings() -> Settings:
    return current_app.config["SDR_SETTINGS"]


def secret_matches(expected: str) -> bool:
    """The shared secret, given as header X-Webhook-Secret or query parameter `secret` (constant time)."""
    given = request.headers.get("X-Webhook-Secret") or request.args.get("secret") or ""
    return secret_equal(given, expected)


def bearer_matches(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


def requested_url() -> str:
    """The full URL the caller requested, as a provider signs it (scheme through query string).

    Behind a TLS-terminating proxy the app sees http and an internal host; with
    `SDR_TRUST_FORWARDED` the first X-Forwarded-Proto / X-Forwarded-Host values are used instead.
    Only enable it when the proxy sets those headers itself, or a caller could choose the URL.
    """
    scheme, host = request.scheme, request.host
    if settings().trust_forwarded:
        scheme = _first(request.headers.get("X-Forwarded-Proto")) or scheme
        host = _first(request.headers.get("X-Forwarded-Host")) or host
    # the path as sent (not re-encoded), the query string as sent
    path = (request.environ.get("RAW_URI") or request.script_root + request.path).split("?", 1)[0]
    query = request.query_string.decode("latin-1")
    return f"{scheme}://{host}{path}" + (f"?{query}" if query else "")


def _first(value: str | None) -> str | None:
    return value.split(",", 1)[0].strip() or None if value else None


def require_admin() -> None:
    """Stop the request unless it carries `Authorization: Bearer $SDR_ADMIN_TOKEN` (a blueprint's before_request)."""
    token = settings().admin_token
    if not token:
        abort(403, description="the admin API is disabled: set SDR_ADMIN_TOKEN")
    if not bearer_matches(token):
        abort(401, description="missing or wrong bearer token")
