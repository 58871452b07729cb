"""Liveness and readiness: readiness names the dependency that is down."""

from __future__ import annotations

import dataclasses

from tests.web.conftest import make_app

CLOSED = "redis://127.0.0.1:1/0"


def test_liveness(client):
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.json == {"status": "ok"}


def test_ready_when_every_dependency_answers(client):
    answer = client.get("/health/ready")
    assert answer.status_code == 200
    assert answer.json["status"] == "ready" and answer.json["failing"] == []
    assert answer.json["checks"] == {"postgres": "ok", "redis": "ok", "broker": "ok"}


def test_not_ready_names_the_broker(rt):
    client = make_app(dataclasses.replace(rt.settings, broker_url=CLOSED)).test_client()
    answer = client.get("/health/ready")
    assert answer.status_code == 503
    assert answer.json["status"] == "not ready" and answer.json["failing"] == ["broker"]
    assert answer.json["checks"]["broker"] != "ok" and answer.json["checks"]["postgres"] == "ok"


def test_not_ready_names_redis_and_broker(rt):
    client = make_app(dataclasses.replace(rt.settings, broker_url=CLOSED, redis_url=CLOSED)).test_client()
    answer = client.get("/health/ready")
    assert answer.status_code == 503 and answer.json["failing"] == ["broker", "redis"]
    assert client.get("/health").status_code == 200  # liveness does no I/O
