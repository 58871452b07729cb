"""Resolving a lead's attachment to text (sdr.media), on the agent queue with the other model calls.

Transient failures (network, provider, model) are retried a few times with backoff; the last
attempt records the failure so the waiting turn tells the lead honestly. A resolution that runs
out of time is recorded as failed too, instead of leaving the turn to wait for its maximum.
"""

from __future__ import annotations

from celery import Task

from sdr.media import MediaRetry, fail_media, resolve_media
from sdr.settings import get_settings, media_time_limit
from tasks.app import app
from tasks.runtime import INFRASTRUCTURE_ERRORS, backoff, runtime

MEDIA_RETRIES = 2
_LIMIT = media_time_limit(get_settings())


class MediaTask(Task):
    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: object) -> None:
        if args:
            fail_media(runtime(), args[0], "pending", f"{type(exc).__name__}: {exc}")


@app.task(name="sdr.media.resolve", bind=True, base=MediaTask, autoretry_for=INFRASTRUCTURE_ERRORS,
          retry_backoff=True, retry_backoff_max=10, max_retries=5, soft_time_limit=_LIMIT, time_limit=_LIMIT + 15)
def resolve(self: Task, message_id: int) -> str:
    try:
        return resolve_media(runtime(), message_id, self.request.retries >= MEDIA_RETRIES).status
    except MediaRetry as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, 4), max_retries=MEDIA_RETRIES) from exc
