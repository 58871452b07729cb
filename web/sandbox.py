"""The sandbox chat: a page that writes to the bot as a lead, through the real webhook path."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, render_template, request

from sdr.addresses import AddressError, e164
from sdr.channels import sandbox
from sdr.db import session_scope
from sdr.history import transcript
from web.settings import secret_matches, settings

bp = Blueprint("sandbox", __name__)


@bp.before_request
def _authenticate():
    secret = settings().sandbox_secret
    if not secret:
        abort(404, description="the sandbox is disabled: set SDR_SANDBOX_SECRET")
    if not secret_matches(secret):
        abort(401, description="missing or wrong sandbox secret (open the URL printed by `make run`)")


@bp.get("/sandbox")
def page():
    s = settings()
    return render_template("sandbox.html", secret=request.args.get("secret", ""), stand_in=s.stand_in_llm,
                           model=s.reply_model)


@bp.get("/sandbox/messages")
def messages():
    try:
        address = e164(request.args.get("phone", ""))
        after = int(request.args.get("after", "0"))
    except (AddressError, ValueError) as exc:
        abort(400, description=f"bad query: {exc}")
    with session_scope(settings()) as session:
        items = transcript(session, sandbox.PROVIDER, address, after)
    return jsonify(messages=items)
