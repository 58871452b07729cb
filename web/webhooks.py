"""POST /webhooks/<provider>: authenticate, parse, store once, enqueue, answer 2xx.

No domain logic lives here. The only write is sdr.inbound.store_events (one statement); after
it commits the message is durable, so even if enqueueing fails the answer is 200 and the
recovery sweep routes the message later.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, abort, jsonify, request

from sdr.channels.base import PayloadError
from sdr.channels.registry import PARSERS
from sdr.db import session_scope
from sdr.inbound import store_events
from tasks.inbound import ingest
from tasks.media import resolve
from web.settings import secret_matches, settings

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


def _expected_secret(provider: str) -> str:
    s = settings()
    if provider == "evolution":
        return s.evolution.webhook_secret if s.evolution else ""
    if provider == "sandbox":
        return s.sandbox_secret
    return ""


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        abort(400, description=f"malformed JSON: {exc}")


@bp.post("/webhooks/<provider>")
def receive(provider: str):
    parser = PARSERS.get(provider)
    expected = _expected_secret(provider)
    if parser is None or not expected:
        abort(404, description=f"no webhook for provider {provider!r} (unknown or not configured)")
    if not secret_matches(expected):
        abort(401, description="missing or wrong webhook secret")
    try:
        parsed = parser(_json_body())
    except PayloadError as exc:
        abort(400, description=str(exc))
    new_ids, duplicates, media_ids = [], 0, []
    if parsed.events:
        with session_scope(settings()) as session:
            stored = store_events(session, parsed.events)
        new_ids, duplicates, media_ids = stored.new_ids, stored.duplicates, stored.media_ids
    for message_id in new_ids:
        try:
            ingest.apply_async((message_id,))
        except Exception:  # stored durably: the recovery sweep will route it
            log.exception("could not enqueue ingest of message %s", message_id)
    for message_id in media_ids:  # resolved while the buffer waits; the turn waits for it (bounded)
        try:
            resolve.apply_async((message_id,))
        except Exception:
            log.exception("could not enqueue media resolution of message %s", message_id)
    return jsonify(stored=len(new_ids), duplicates=duplicates, ignored=parsed.ignored), 200
