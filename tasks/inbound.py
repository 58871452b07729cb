"""Ingest: route a stored message into its conversation and schedule the turn's flush."""

from __future__ import annotations

from sdr.pipeline import ingest_step
from tasks.app import app
from tasks.runtime import INFRASTRUCTURE_ERRORS, runtime
from tasks.turn import schedule


@app.task(name="sdr.ingest", autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, retry_backoff_max=30,
          max_retries=8)
def ingest(message_id: int) -> int | None:
    start = ingest_step(runtime(), message_id)
    schedule(start)
    return start.conversation_id if start else None
