"""Meta's webhook: `GET /webhooks/meta` (subscription handshake) and `POST /webhooks/meta`.

The POST checks `X-Hub-Signature-256` over the raw body before anything is parsed or stored
(401 without a signature, 403 with a wrong one). Then, like every webhook: parse, store once,
enqueue, answer 200 — also for well-formed events we ignore, so Meta stops redelivering them.
"""

from __future__ import annotations

import hmac
import json
import logging

from flask import Blueprint, Response, abort, request

from sdr.channels.base import PayloadError
from sdr.channels.meta import PROVIDER, parse_webhook
from sdr.meta_signature import signature_matches
from sdr.settings import MetaConfig
from web.settings import settings
from web.webhooks import accept_parsed

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


