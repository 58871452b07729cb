"""Admin API for the knowledge base, behind `Authorization: Bearer $SDR_ADMIN_TOKEN`.

POST /api/knowledge?source=NAME[&replace=1]  body: Markdown (text/markdown), CSV (text/csv) or a JSON list
GET  /api/knowledge?q=QUESTION[&limit=K]     search (without q: the sources and their document counts)
DELETE /api/knowledge/<source>               remove a source
A bad body is a 400 naming the bad line and column, and nothing is stored.
"""

from __future__ import annotations

import re

from flask import Blueprint, abort, jsonify, request

from sdr.db import session_scope
from sdr.knowledge import (KnowledgeError, delete_knowledge, knowledge_sources, search_knowledge,
                           store_knowledge)
from sdr.knowledge_files import parse_content, parse_entries
from sdr.redis_client import get_redis
from web.settings import require_admin, settings

bp = Blueprint("knowledge", __name__, url_prefix="/api/knowledge")
bp.before_request(require_admin)

SOURCE = re.compile(r"^[\w.\- ]{1,100}$")
FORMATS = {"text/markdown": "markdown", "text/x-markdown": "markdown", "text/plain": "markdown",
           "text/csv": "csv", "application/csv": "csv"}
MAX_LIMIT = 20


def _source(value: str | None) -> str:
    source = (value or "api").strip()
    if not SOURCE.match(source):
        abort(400, description="source must be 1-100 letters, digits, spaces, dots, dashes or underscores")
    return source


def _sections():
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None:
            abort(400, description="the body is not valid JSON")
        return parse_entries(data)
    fmt = FORMATS.get(request.mimetype)
    if fmt is None:
        abort(415, description="send text/markdown, text/csv or application/json")
    try:
        content = request.get_data().decode("utf-8")
    except UnicodeDecodeError as exc:
        abort(400, description=f"the body is not UTF-8 text (byte {exc.start})")
    return parse_content(content, fmt)


@bp.post("")
def import_knowledge():
    source = _source(request.args.get("source"))
    replace = request.args.get("replace", "").lower() in ("1", "true", "yes")
    try:
        sections = _sections()
        imported = store_knowledge(lambda: session_scope(settings()), get_redis(settings()), sections,
                                   source, replace)
    except KnowledgeError as exc:
        abort(400, description=str(exc))
    return jsonify(source=imported.source, added=imported.added, removed=imported.removed,
                   unchanged=imported.unchanged, replace=replace)


@bp.get("")
def search():
    query = request.args.get("q")
    with session_scope(settings()) as session:
        if query is None:
            return jsonify(sources=knowledge_sources(session))
        limit = request.args.get("limit", "5")
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            abort(400, description=f"limit must be a whole number from 1 to {MAX_LIMIT}")
        hits = search_knowledge(session, query, int(limit))
    return jsonify(query=query, hits=[{"title": h.title, "body": h.body} for h in hits])


@bp.delete("/<source>")
def delete(source: str):
    deleted = delete_knowledge(lambda: session_scope(settings()), get_redis(settings()), _source(source))
    if not deleted:
        abort(404, description=f"no knowledge source {source!r}")
    return jsonify(source=source, deleted=deleted)
