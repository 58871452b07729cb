"""Liveness (no I/O) and readiness (Postgres, Redis and broker, checked in parallel)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from sdr.health import check_readiness
from web.settings import settings

bp = Blueprint("health", __name__)


@bp.get("/health")
def live():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    result = check_readiness(settings())
    failing = sorted(name for name, state in result.checks.items() if state != "ok")
    body = {"status": "ready" if result.ok else "not ready", "checks": result.checks, "failing": failing}
    return jsonify(body), 200 if result.ok else 503
