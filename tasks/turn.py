"""A turn as a Celery chain: start (takes the lock) -> analyze -> reply -> send.

Each task is a thin adapter over one step of sdr.pipeline / sdr.delivery. Model calls are
retried a couple of times on transient errors (then a safe fallback is used); sends are
retried with backoff on transient provider errors, up to SDR_SEND_RETRY_MAX.
"""

from __future__ import annotations

from typing import Any

from celery import Task, chain

from sdr.delivery import send_step
from sdr.llm import LLMTransientError
from sdr.pipeline import StartTurn, abort_step, analyze_step, reply_step, start_step
from sdr.settings import get_settings
from tasks.app import app
from tasks.memory import summarize
from tasks.runtime import INFRASTRUCTURE_ERRORS, backoff, runtime, send_countdown

LLM_RETRIES = 2
RETRYABLE = {"autoretry_for": INFRASTRUCTURE_ERRORS, "retry_backoff": True, "retry_backoff_max": 10,
             "max_retries": 5}


class TurnTask(Task):
    """A step of a turn. If it fails for good, the turn is closed as failed instead of being left
    for the recovery sweep to retry forever."""

    def on_failure(self, exc: BaseException, task_id: str, args: tuple, kwargs: dict, einfo: object) -> None:
        if args and isinstance(args[0], dict):
            conversation_id, token = args[0]["conversation_id"], args[0]["token"]
        elif len(args) >= 2 and isinstance(args[1], str):
            conversation_id, token = args[0], args[1]
        else:
            return  # nothing was started (a chain step received no turn)
        schedule(abort_step(runtime(), conversation_id, token, f"{type(exc).__name__}: {exc}"))


@app.task(name="sdr.turn.start", **RETRYABLE)
def start_turn(conversation_id: int, generation: str, queued_at: str | None = None) -> str | None:
    started = start_step(runtime(), conversation_id, generation)
    if started is None:
        return None
    steps = chain(analyze.s(conversation_id, started.token, started.queued_at or queued_at), reply.s(), send.s())
    steps.apply_async()
    return started.token


def schedule(start: StartTurn | None) -> None:
    if start is not None:
        args = (start.conversation_id, start.flush.generation) + ((start.queued_at,) if start.queued_at else ())
        start_turn.apply_async(args, countdown=start.flush.delay)


@app.task(name="sdr.turn.analyze", bind=True, base=TurnTask, **RETRYABLE)
def analyze(self: Task, conversation_id: int, token: str, queued_at: str | None) -> dict[str, Any] | None:
    try:
        analyzed = analyze_step(runtime(), conversation_id, token, queued_at, self.request.retries >= LLM_RETRIES)
    except LLMTransientError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, 8), max_retries=LLM_RETRIES) from exc
    if isinstance(analyzed, StartTurn):  # media still being resolved: start again shortly
        schedule(analyzed)
        return None
    if analyzed is not None and analyzed["context"].get("summary_due"):
        summarize.delay(conversation_id)  # in the background; this turn uses the summary it has
    return analyzed


@app.task(name="sdr.turn.reply", bind=True, base=TurnTask, **RETRYABLE)
def reply(self: Task, payload: dict[str, Any] | None) -> dict[str, Any] | None:
    try:
        return reply_step(runtime(), payload, self.request.retries >= LLM_RETRIES)
    except LLMTransientError as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries, 8), max_retries=LLM_RETRIES) from exc


@app.task(name="sdr.turn.send", bind=True, base=TurnTask, **RETRYABLE)
def send(self: Task, payload: dict[str, Any] | None) -> str:
    settings = get_settings()
    failures = self.request.retries - (payload or {}).get("cap_waits", 0)  # waiting for a chip's cap is no failure
    delivery = send_step(runtime(), payload, failures >= settings.send_retry_max)
    if delivery.retry_payload is not None:
        countdown = send_countdown(failures, settings.send_retry_backoff_max, delivery.rate_limited,
                                   delivery.retry_after)
        raise self.retry(args=(delivery.retry_payload,), countdown=countdown, max_retries=None)
    schedule(delivery.follow_up)
    return delivery.outcome
