"""Liveness and readiness: readiness names the dependency that is down."""

from __future__ import annotations

import dataclasses

import pytest

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


def test_a_bad_playbook_stops_the_web_app_at_start_up(rt, tmp_path):
    from sdr.agent.playbook import PlaybookError

    bad = tmp_path / "typo.yaml"
    bad.write_text(rt.settings.playbook_path.read_text(encoding="utf-8").replace("  tone:", "  tom:"),
                   encoding="utf-8")
    with pytest.raises(PlaybookError, match="playbook typo.yaml: persona.tone is required"):
        make_app(dataclasses.replace(rt.settings, playbook_path=bad))
