"""The Flask app: webhooks, health, the admin API and the sandbox chat. `web:create_app()`."""

from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from sdr.agent.playbook import cached_playbook
from sdr.llm import describe_llm
from sdr.logs import configure_logging, install_redaction
from sdr.settings import Settings, get_settings
from tasks import init_app

MAX_BODY_BYTES = 16 * 1024 * 1024  # webhooks may carry base64 media


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    cached_playbook(settings.playbook_path)  # a bad playbook stops start-up with an error naming the field
    app = Flask(__name__)
    app.config["SDR_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    if not logging.getLogger().handlers:
        configure_logging(settings)
    install_redaction(settings)
    app.logger.log(logging.WARNING if settings.stand_in_llm else logging.INFO, describe_llm(settings))
    init_app(app)

    from web import api, health, knowledge, meta, sandbox, webhooks

    for blueprint in (webhooks.bp, health.bp, api.bp, sandbox.bp, meta.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(knowledge.bp)

    @app.errorhandler(HTTPException)
    def _json_error(error: HTTPException):  # every error answers JSON with a reason
        return jsonify(error=error.name.lower().replace(" ", "_"), reason=error.description), error.code

    return app
