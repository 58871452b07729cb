"""The admin API, behind `Authorization: Bearer $SDR_ADMIN_TOKEN`."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify

from sdr.conversations import resume_conversation
from sdr.db import session_scope
from tasks.turn import start_turn
from web.settings import bearer_matches, settings

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def _authenticate():
    token = settings().admin_token
    if not token:
        abort(403, description="the admin API is disabled: set SDR_ADMIN_TOKEN")
    if not bearer_matches(token):
        abort(401, description="missing or wrong bearer token")


@bp.post("/conversations/<int:conversation_id>/resume")
def resume(conversation_id: int):
    with session_scope(settings()) as session:
        resumed = resume_conversation(session, conversation_id)
    if resumed is None:
        abort(404, description=f"conversation {conversation_id} not found")
    if resumed.pending:  # the lead wrote during the pause and no person answered: the bot does
        start_turn.apply_async((conversation_id, ""))
    return jsonify(id=conversation_id, status="bot", pending=resumed.pending)
