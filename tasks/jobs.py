"""Periodic jobs (triggered by beat, see tasks/schedule.py), each its own task."""

from __future__ import annotations

from sdr import jobs
from sdr.settings import get_settings
from tasks.app import app
from tasks.inbound import ingest
from tasks.media import resolve
from tasks.runtime import runtime
from tasks.turn import start_turn


@app.task(name="sdr.jobs.sweep")
def sweep() -> dict[str, int]:
    rt = runtime()
    if not jobs.claim_job(rt.redis, "sweep", get_settings().sweep_interval_seconds):
        return {"skipped": 1}
    found = jobs.sweep(rt)
    for message_id in found.reroute:
        ingest.delay(message_id)
    for conversation_id in found.restart:
        start_turn.delay(conversation_id, "")
    for message_id in found.resolve:
        resolve.delay(message_id)
    return {"rerouted": len(found.reroute), "restarted": len(found.restart), "resolved": len(found.resolve)}


@app.task(name="sdr.jobs.decay")
def decay() -> int:
    rt = runtime()
    if not jobs.claim_job(rt.redis, "decay", 60):
        return 0
    return jobs.decay(rt)
