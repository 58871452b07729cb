"""Access to the app's settings and the checks shared by blueprints (secrets, bearer tokens)."""

from __future__ import annotations

import hmac

from flask import abort, current_app, request

from sdr.settings import Settings


def settings() -> Settings:
    return current_app.config["SDR_SETTINGS"]


def secret_matches(expected: str) -> bool:
    """The shared secret, given as header X-Webhook-Secret or query parameter `secret`."""
    given = request.headers.get("X-Webhook-Secret") or request.args.get("secret") or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def bearer_matches(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return bool(expected) and scheme.lower() == "bearer" and hmac.compare_digest(token.encode(), expected.encode())


def require_admin() -> None:
    """Stop the request unless it carries `Authorization: Bearer $SDR_ADMIN_TOKEN` (a blueprint's before_request)."""
    token = settings().admin_token
    if not token:
        abort(403, description="the admin API is disabled: set SDR_ADMIN_TOKEN")
    if not bearer_matches(token):
        abort(401, description="missing or wrong bearer token")
