"""POST /webhooks/<provider>: authenticate, parse, store once, enqueue, answer 2xx.

Each provider has an authenticator (aborts 401/403 before the body is read) and a parser (body ->
`ParsedWebhook`, or 400 with a reason). `accept_parsed` is the one way a parsed webhook is stored:
new messages with one INSERT (the dedupe and the durability point), status reports with one more
statement in the same transaction, then the ingest of each new message is enqueued. After the
commit the messages are durable, so even if enqueueing fails the answer is 200 and the recovery
sweep routes them later.

Status reports are applied synchronously rather than through a task: applying a batch is one
idempotent statement, cheaper than enqueueing it, and it leaves no queue in which reports of one
message could be reordered.

Authentication failures: a missing or wrong shared secret, or a missing or malformed signature,
is 401; a well-formed signature that does not match is 403. Nothing is stored either way.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from flask import Blueprint, Response, abort, jsonify, request

from sdr.channels import evolution, sandbox, twilio, zapi
from sdr.channels.base import ParsedWebhook, PayloadError
from sdr.db import session_scope
from sdr.inbound import store_events
from sdr.settings import Settings
from sdr.signatures import twilio_signature_valid, well_formed_twilio_signature
from sdr.statuses import apply_statuses
from tasks.inbound import ingest
from tasks.media import resolve
from web.settings import requested_url, secret_matches, settings

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass(frozen=True)
class Webhook:
    configured: Callable[[Settings], bool]
    authenticate: Callable[[Settings], None]  # aborts with 401/403
    parse: Callable[[], ParsedWebhook]  # reads the request body; raises PayloadError
    respond: Callable[[str, ParsedWebhook], Any]


def _json_body() -> Any:
    try:
        return json.loads(request.get_data(cache=False) or b"")
    except (ValueError, UnicodeDecodeError) as exc:
        abort(400, description=f"malformed JSON: {exc}")


def _shared_secret(expected: Callable[[Settings], str]) -> Callable[[Settings], None]:
    def authenticate(s: Settings) -> None:
        if not secret_matches(expected(s)):
            abort(401, description="missing or wrong webhook secret")
    return authenticate


def _twilio_signature(s: Settings) -> None:
    assert s.twilio is not None
    given = request.headers.get("X-Twilio-Signature", "")
    if not given or not well_formed_twilio_signature(given):
        abort(401, description="missing or malformed X-Twilio-Signature")
    params = list(request.form.items(multi=True))
    if not twilio_signature_valid(s.twilio.auth_token, requested_url(), params, given):
        abort(403, description="X-Twilio-Signature does not match")


def _twilio_form() -> ParsedWebhook:
    return twilio.parse_webhook(request.form.to_dict(flat=True))


def _respond_twiml(provider: str, parsed: ParsedWebhook) -> Response:
    _store_and_enqueue(provider, parsed)
    return Response(EMPTY_TWIML, status=200, content_type="text/xml")


def accept_parsed(provider: str, parsed: ParsedWebhook) -> tuple[Response, int]:
    """Store a parsed webhook's messages and status reports, enqueue each new message; the JSON answer."""
    return jsonify(_store_and_enqueue(provider, parsed)), 200


def _store_and_enqueue(provider: str, parsed: ParsedWebhook) -> dict[str, Any]:
    new_ids: list[int] = []
    media_ids: list[int] = []
    duplicates = moved = 0
    if parsed.events or parsed.statuses:
        with session_scope(settings()) as session:
            if parsed.events:
                stored = store_events(session, parsed.events)
                new_ids, duplicates, media_ids = stored.new_ids, stored.duplicates, stored.media_ids
            if parsed.statuses:
                moved = apply_statuses(session, parsed.statuses)
    for message_id in new_ids:
        try:
            ingest.apply_async((message_id,))
        except Exception:  # stored durably: the recovery sweep will route it
            log.exception("could not enqueue ingest of %s message %s", provider, message_id)
    for message_id in media_ids:  # resolved while the buffer waits; the turn waits for it (bounded)
        try:
            resolve.apply_async((message_id,))
        except Exception:  # the recovery sweep re-enqueues pending resolutions
            log.exception("could not enqueue media resolution of %s message %s", provider, message_id)
    summary: dict[str, Any] = {"stored": len(new_ids), "duplicates": duplicates, "ignored": parsed.ignored}
    if parsed.statuses:
        summary["statuses"] = moved  # messages moved forward by this body's status reports
    return summary


WEBHOOKS: dict[str, Webhook] = {
    evolution.PROVIDER: Webhook(
        configured=lambda s: s.evolution is not None,
        authenticate=_shared_secret(lambda s: s.evolution.webhook_secret if s.evolution else ""),
        parse=lambda: evolution.parse_webhook(_json_body()),
        respond=accept_parsed,
    ),
    zapi.PROVIDER: Webhook(
        configured=lambda s: s.zapi is not None,
        authenticate=_shared_secret(lambda s: s.zapi.webhook_secret if s.zapi else ""),
        parse=lambda: zapi.parse_webhook(_json_body()),
        respond=accept_parsed,
    ),
    twilio.PROVIDER: Webhook(
        configured=lambda s: s.twilio is not None,
        authenticate=_twilio_signature,
        parse=_twilio_form,
        respond=_respond_twiml,
    ),
    sandbox.PROVIDER: Webhook(
        configured=lambda s: bool(s.sandbox_secret),
        authenticate=_shared_secret(lambda s: s.sandbox_secret),
        parse=lambda: sandbox.parse_webhook(_json_body()),
        respond=accept_parsed,
    ),
}


@bp.post("/webhooks/<provider>")
def receive(provider: str):
    webhook = WEBHOOKS.get(provider)
    current = settings()
    if webhook is None or not webhook.configured(current):
        abort(404, description=f"no webhook for provider {provider!r} (unknown or not configured)")
    webhook.authenticate(current)
    try:
        parsed = webhook.parse()
    except PayloadError as exc:
        abort(400, description=str(exc))
    return webhook.respond(provider, parsed)
