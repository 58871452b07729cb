"""The Flask app under test, built from the run's settings (imported late: importing `web` loads the
Celery app, whose broker comes from the environment the `settings` fixture sets)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient


def make_app(settings: Any) -> Flask:
    from web import create_app

    return create_app(settings)


@pytest.fixture()
def app(rt: Any) -> Flask:
    return make_app(rt.settings)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def queued(rt: Any, queue: str) -> list[tuple[str, list[Any]]]:
    """(task name, args) of the tasks waiting in a broker queue (the test Redis database; nothing consumes
    them in these tests)."""
    tasks = []
    for raw in rt.redis.lrange(queue, 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args))
    return tasks
