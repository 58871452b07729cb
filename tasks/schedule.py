"""The whole beat schedule. Each periodic job is its own task on the periodic queue, so jobs run
in parallel; `expires` drops a run that waited longer than its interval instead of stacking it.
"""

from __future__ import annotations

from typing import Any

from sdr.settings import Settings


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    sweep = settings.sweep_interval_seconds
    decay = settings.decay_interval_seconds
    return {
        "recovery-sweep": {"task": "sdr.jobs.sweep", "schedule": sweep, "options": {"expires": sweep}},
        "engagement-decay": {"task": "sdr.jobs.decay", "schedule": decay, "options": {"expires": decay}},
    }
