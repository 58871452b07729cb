"""Sending a turn's reply, part by part, and closing the turn.

Failures never loop: a provider that keeps failing, refuses the message, or leaves its fate
unknown closes the turn as failed (recorded on the turn, the outbox row and the message) and
the conversation moves on; only a part the provider clearly did not take is retried.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import redis

from sdr.channels.base import Channel, ChipRef, RateLimitedSendError, SendError, TransientSendError
from sdr.channels.http import AmbiguousSendError
from sdr.channels.registry import ChannelUnavailable
from sdr.chip_caps import Caps, Reservation, refund_send, reserve_send
from sdr.outbound import Finished, claim_part, finish, record_retry
from sdr.pipeline import StartTurn
from sdr.runtime import Runtime
from sdr.window import send_in_window

log = logging.getLogger(__name__)

# claim verdict -> (turn status, outcome)
STOPS = {"paused": ("stopped", "paused"), "superseded": ("superseded", "newer message"),
         "lost": ("abandoned", "lock lost")}


@dataclass(frozen=True)
class Delivery:
    outcome: str  # done | retry | stopped | superseded | abandoned | failed | lost | nothing
    retry_payload: dict[str, Any] | None = None  # resend from this payload after a backoff
    retry_after: float | None = None  # the provider asked to slow down: at least this long (None: unknown)
    rate_limited: bool = False
    follow_up: StartTurn | None = None  # messages arrived meanwhile: start another turn


def send_step(rt: Runtime, payload: dict[str, Any] | None, last_attempt: bool) -> Delivery:
    if payload is None:
        return Delivery("nothing")
    if not rt.buffer.extend(payload["conversation_id"], payload["token"]):
        return Delivery("lost")
    try:
        channel = rt.channel(payload["provider"])
    except ChannelUnavailable as exc:
        return _stop(rt, payload, "failed", str(exc), answered=True)
    chip = ChipRef(payload["chip_id"], payload["provider"], payload["channel_ref"])
    for part in range(payload["next_part"], payload["parts"]):
        stopped = _send_part(rt, channel, chip, payload, part, last_attempt)
        if stopped is not None:
            return stopped
    with rt.sessions() as session:  # the last part was already sent by an earlier attempt
        finished = finish(session, payload["turn_id"], final=True)
    return _after(rt, payload, finished, "done")


def _send_part(
    rt: Runtime, channel: Channel, chip: ChipRef, payload: dict[str, Any], part: int, last_attempt: bool
) -> Delivery | None:
    settings = rt.settings
    in_flight = settings.provider_connect_timeout + settings.provider_read_timeout + 5
    with rt.sessions() as session:
        claim = claim_part(session, payload["turn_id"], payload["conversation_id"], part,
                           settings.supersede_limit_seconds, in_flight)
    if claim.verdict != "go":
        status, outcome = STOPS[claim.verdict]
        return _stop(rt, payload, status, outcome, answered=part > 0)
    if not claim.claimed:
        if claim.part_status in ("sent", "sending", "unknown"):
            return None  # sent (or maybe sent) by an earlier attempt: never twice
        return _stop(rt, payload, "failed", f"part {part} is {claim.part_status}", answered=True)
    assert claim.outbox_id is not None and claim.to_address is not None and claim.body is not None
    chip = dataclasses.replace(chip, credentials_ref=claim.credentials_ref)
    try:
        reservation = reserve_send(rt.redis, chip.id, Caps(claim.hourly_cap, claim.daily_cap))
    except redis.RedisError as exc:  # the part is claimed: put it back rather than leave it "maybe sent"
        return _not_sent(rt, payload, part, claim.outbox_id, TransientSendError(f"chip caps: {exc}"), last_attempt)
    if not reservation.granted:
        return _wait_for_cap(rt, payload, part, claim.outbox_id, reservation)
    try:
        receipt = send_in_window(channel, chip, claim.to_address, claim.body, claim.window_open)
    except SendError as exc:
        if not isinstance(exc, AmbiguousSendError):  # the provider did not take it: the send is given back
            refund_send(rt.redis, reservation)
        return _not_sent(rt, payload, part, claim.outbox_id, exc, last_attempt)
    # Outside the window the template stands for the whole reply: the other parts are cancelled.
    final = part == payload["parts"] - 1 or receipt.template is not None
    if receipt.template is not None:
        log.info("turn %s: 24-hour window closed, sent template %s instead", payload["turn_id"], receipt.template)
    with rt.sessions() as session:
        finished = finish(session, payload["turn_id"], final=final, sent_outbox_id=claim.outbox_id,
                          provider_message_id=receipt.provider_message_id)
    return _after(rt, payload, finished, "done") if final else None


def _not_sent(rt: Runtime, payload: dict[str, Any], part: int, outbox_id: int, exc: SendError,
              last_attempt: bool) -> Delivery:
    if isinstance(exc, TransientSendError) and not last_attempt:
        with rt.sessions() as session:
            record_retry(session, outbox_id, str(exc))
        limited = isinstance(exc, RateLimitedSendError)
        return Delivery("retry", retry_payload={**payload, "next_part": part}, rate_limited=limited,
                        retry_after=exc.retry_after if limited else None)  # type: ignore[attr-defined]
    if isinstance(exc, TransientSendError):
        return _stop(rt, payload, "failed", f"gave up: {exc}", answered=True, failed_oid=outbox_id)
    ambiguous = isinstance(exc, AmbiguousSendError)
    return _stop(rt, payload, "failed", str(exc), answered=True, failed_oid=outbox_id,
                 failed_status="unknown" if ambiguous else "failed")


def _wait_for_cap(rt: Runtime, payload: dict[str, Any], part: int, outbox_id: int,
                  reservation: Reservation) -> Delivery:
    """The chip used up its hourly or daily allowance: the part waits for the window, it is not dropped."""
    with rt.sessions() as session:
        record_retry(session, outbox_id, f"chip {payload['chip_id']} {reservation.full} cap reached")
    log.info("turn %s waits %.0fs for chip %s's %s cap", payload["turn_id"], reservation.retry_after,
             payload["chip_id"], reservation.full)
    waiting = {**payload, "next_part": part, "cap_waits": payload.get("cap_waits", 0) + 1}
    return Delivery("retry", retry_payload=waiting, retry_after=reservation.retry_after, rate_limited=True)


def _stop(
    rt: Runtime, payload: dict[str, Any], status: str, outcome: str, *, answered: bool,
    failed_oid: int | None = None, failed_status: str = "failed",
) -> Delivery:
    if status == "failed":
        log.warning("turn %s failed to send: %s", payload["turn_id"], outcome)
    with rt.sessions() as session:
        finished = finish(session, payload["turn_id"], final=True, status=status, outcome=outcome,
                          answered=answered, failed_outbox_id=failed_oid, failed_status=failed_status,
                          error=outcome if status == "failed" else None)
    return _after(rt, payload, finished, status)


def _after(rt: Runtime, payload: dict[str, Any], finished: Finished, outcome: str) -> Delivery:
    """Release the conversation and, if the lead wrote meanwhile, ask for the next turn."""
    flush = rt.buffer.release(payload["conversation_id"], payload["token"])
    follow_up = StartTurn(payload["conversation_id"], flush) if finished.pending else None
    return Delivery(outcome, follow_up=follow_up)
