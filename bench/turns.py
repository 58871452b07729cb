"""Turns end to end: the overhead the fleet adds at 200 concurrent conversations, and sustained
intake of new leads.

Overhead of a turn = end-to-end (webhook ack of the lead's last message -> last part of the reply
received by the provider stand-in) - the turn's model time (``turns.llm_ms``) - the buffer's quiet
wait (``SDR_BUFFER_QUIET_SECONDS``). A stricter variant subtracts the stand-in's latency (2 calls x
the configured latency) instead of ``llm_ms``, so the model client's own overhead counts too. The
overhead is split into: ack -> routed (ingest queue and routing), routed + quiet -> turn opened
(the debounce timer's lateness, the start task and the analyze hop) and turn opened -> last part
sent minus model time (SQL, the reply and send hops, the provider calls).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import workload
from bench.loadgen import Drive
from bench.memory import Sampler, pss_by_process
from bench.replies import LeadReply, lead_replies
from bench.rig import Rig
from bench.stats import Summary

OVERHEAD_PHASE = 30
INTAKE_PHASE = 40
BURST_SPREAD = 1.0  # seconds over which the concurrent conversations start writing


@dataclass(frozen=True)
class Delivery:
    """What a phase's leads received."""

    leads: int
    acked: int
    answered: int
    lost: int
    duplicated: int  # extra sends beyond each done turn's parts, or the same text twice
    multi_turn_leads: int  # leads answered by more than one turn
    failed_turns: int

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.acked == self.leads


def delivery(replies: list[LeadReply]) -> Delivery:
    return Delivery(
        leads=len(replies), acked=sum(r.last_ack is not None for r in replies),
        answered=sum(r.answered for r in replies), lost=sum(not r.answered for r in replies),
        duplicated=sum(r.extra_sends for r in replies), multi_turn_leads=sum(r.done_turns > 1 for r in replies),
        failed_turns=sum(r.turns - r.done_turns for r in replies),
    )


@dataclass(frozen=True)
class OverheadResult:
    conversations: int
    messages: int
    overhead: Summary  # ms
    strict: Summary  # ms, with 2 x stand-in latency as the model time
    e2e: Summary  # ms
    llm: Summary  # ms
    routing: Summary  # ms, ack -> routed
    flush: Summary  # ms, routed + quiet -> turn opened
    in_turn: Summary  # ms, turn opened -> last part sent, minus llm_ms
    max_in_flight: int
    delivery: Delivery
    ack: Summary


def measured(replies: list[LeadReply]) -> list[LeadReply]:
    """Leads answered by exactly one done turn, with every timestamp known."""
    return [r for r in replies if r.e2e_ms is not None and r.llm_ms is not None and r.done_turns == 1
            and r.routed_at is not None and r.started_at is not None]


def overhead_result(rig: Rig, messages: list[workload.Message], drive: Drive, replies: list[LeadReply],
                    max_in_flight: int) -> OverheadResult:
    quiet_ms = rig.params.quiet * 1000
    ok = measured(replies)
    return OverheadResult(
        conversations=len(replies), messages=len(messages),
        overhead=Summary.of([r.e2e_ms - r.llm_ms - quiet_ms for r in ok]),
        strict=Summary.of([r.e2e_ms - 2000 * rig.params.llm_latency - quiet_ms for r in ok]),
        e2e=Summary.of([r.e2e_ms for r in ok]), llm=Summary.of([r.llm_ms for r in ok]),
        routing=Summary.of([(r.routed_at - r.last_ack) * 1000 for r in ok]),
        flush=Summary.of([(r.started_at - r.routed_at) * 1000 - quiet_ms for r in ok]),
        in_turn=Summary.of([(r.sends[-1] - r.started_at) * 1000 - r.llm_ms for r in ok]),
        max_in_flight=max_in_flight, delivery=delivery(replies),
        ack=Summary.of([o.latency_ms for o in drive.outcomes if o.ok]),
    )


def measure_overhead(rig: Rig) -> OverheadResult:
    params = rig.params
    messages = workload.bursts(OVERHEAD_PHASE, params.conversations, BURST_SPREAD, params.burst_gap)
    rig.llm.reset()
    rig.evolution.reset()
    drive = rig.drive(messages, "overhead")
    rig.wait_answered(OVERHEAD_PHASE, params.conversations, params.quiet + 2 * params.llm_latency + 120)
    rig.wait_idle(60)
    replies = lead_replies(rig, OVERHEAD_PHASE, messages, drive)
    return overhead_result(rig, messages, drive, replies, int(rig.llm.stats()["max_in_flight"]))


@dataclass(frozen=True)
class IntakeResult:
    rate: float
    seconds: float
    acked_rate: float  # webhook acks per second while sending
    answered_rate: float  # replies completed per second, first to last
    time_to_reply: Summary  # ms, ack -> last part received by the provider
    first_part: Summary  # ms, ack -> first part
    delivery: Delivery
    rss_peak: dict[str, int]
    rss_end: dict[str, int]
    pss_end: dict[str, int]
    max_in_flight: int
    ack: Summary


def rate_between(times: list[float]) -> float:
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (max(times) - min(times))


def measure_intake(rig: Rig) -> IntakeResult:
    params = rig.params
    messages = workload.steady(INTAKE_PHASE, params.intake_rate, params.intake_seconds)
    rig.llm.reset()
    rig.evolution.reset()
    with Sampler(rig.fleet) as sampler:
        drive = rig.drive(messages, "intake")
        rig.wait_answered(INTAKE_PHASE, len(messages), params.quiet + 2 * params.llm_latency + 180)
    pss = pss_by_process(rig.fleet)
    replies = lead_replies(rig, INTAKE_PHASE, messages, drive)
    ok = [r for r in replies if r.e2e_ms is not None]
    return IntakeResult(
        rate=params.intake_rate, seconds=params.intake_seconds,
        acked_rate=rate_between([o.ack_wall for o in drive.outcomes if o.ok]),
        answered_rate=rate_between([r.sends[-1] for r in ok]),
        time_to_reply=Summary.of([r.e2e_ms for r in ok]), first_part=Summary.of([r.first_part_ms for r in ok]),
        delivery=delivery(replies), rss_peak=sampler.peak.rss, rss_end=sampler.end.rss, pss_end=pss,
        max_in_flight=int(rig.llm.stats()["max_in_flight"]),
        ack=Summary.of([o.latency_ms for o in drive.outcomes if o.ok]),
    )
