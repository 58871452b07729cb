"""Meta's webhook: `GET /webhooks/meta` (subscription handshake) and `POST /webhooks/meta`.

The POST checks `X-Hub-Signature-256` over the raw body before anything is parsed or stored
(401 without a signature, 403 with a wrong one). Then, like every webhook: parse, store once,
enqueue, answer 200 — also for well-formed events we ignore, so Meta stops redelivering them.
"""

from __future__ import annotations

import hmac
import json
import logging

from flask import Blueprint, Response, abort, jsonify, request

from sdr.channels.base import ParsedWebhook, PayloadError
from sdr.channels.meta import PROVIDER, parse_webhook
from sdr.db import session_scope
from sdr.inbound import store_events
from sdr.meta_signature import signature_matches
from sdr.settings import MetaConfig
from tasks.inbound import ingest
from web.settings import settings

bp = Blueprint("meta", __name__)
log = logging.getLogger(__name__)


def _config() -> MetaConfig:
    config = settings().meta
    if config is None:
        abort(404, description="no webhook for provider 'meta' (META_* settings are not configured)")
    return config


@bp.get("/webhooks/meta")
def handshake():
    config = _config()
    token = request.args.get("hub.verify_token", "")
    challenge = request.args.get("hub.challenge", "")
    if request.args.get("hub.mode") != "subscribe" or not challenge:
        abort(400, description="expected hub.mode=subscribe and a hub.challenge")
    if not hmac.compare_digest(token.encode(), config.verify_token.encode()):
        abort(403, description="hub.verify_token does not match META_VERIFY_TOKEN")
    return Response(challenge, status=200, mimetype="text/plain")


@bp.post("/webhooks/meta")
def receive():
    config = _config()
    raw = request.get_data(cache=False)
    header = request.headers.get("X-Hub-Signature-256")
    if not header:
        abort(401, description="missing X-Hub-Signature-256")
    if not signature_matches(config.app_secret, raw, header):
        abort(403, description="X-Hub-Signature-256 does not match the body")
    try:
        parsed = parse_webhook(json.loads(raw or b""))
    except (ValueError, UnicodeDecodeError) as exc:  # PayloadError is a ValueError too
        abort(400, description=str(exc) if isinstance(exc, PayloadError) else f"malformed JSON: {exc}")
    return accept_parsed(PROVIDER, parsed)


def accept_parsed(provider: str, parsed: ParsedWebhook) -> tuple[Response, int]:
    """Store the events once and enqueue the new ones; the JSON answer. Same shape as
    web.webhooks.accept_parsed, which also applies `parsed.statuses`: at merge, import that one instead."""
    new_ids, duplicates = [], 0
    if parsed.events:
        with session_scope(settings()) as session:
            stored = store_events(session, parsed.events)
        new_ids, duplicates = stored.new_ids, stored.duplicates
    for message_id in new_ids:
        try:
            ingest.apply_async((message_id,))
        except Exception:  # stored durably: the recovery sweep will route it
            log.exception("could not enqueue ingest of %s message %s", provider, message_id)
    summary: dict[str, object] = {"stored": len(new_ids), "duplicates": duplicates, "ignored": parsed.ignored}
    if parsed.statuses:
        summary["statuses"] = 0  # status reports are not applied here (see the docstring)
    return jsonify(summary), 200
