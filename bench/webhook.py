"""Webhook acknowledgement: latency at the budgeted rate, then the highest rate the web process sustains.

The ack phase posts messages at a fixed rate from new leads who each write a burst of a few
messages (as people do on WhatsApp), so the requests also create real turns that the worker
answers while the web process is measured: at 200 requests/s in bursts of 4 that is 50 new
leads and turns per second, the intake budget. The phase ends when the fleet has answered them
all. The step-up phase posts to a WhatsApp number that is
not one of the business's chips: the web path is identical (authenticate, parse, one INSERT, one
publish) and the worker still routes every message, but no turn is started, so tens of thousands
of requests do not leave minutes of turns behind. Each step lasts a fixed time at a fixed rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench import workload
from bench.loadgen import Drive
from bench.rig import Rig
from bench.stats import Summary

ACK_PHASE = 10
STEP_PHASE = 20  # step k uses phase STEP_PHASE + k
WARMUP_PHASE = 11
ACK_BURST_GAP = 0.4  # seconds between a lead's messages
P99_BUDGET_MS = 10.0
COLLAPSE_MS = 1000.0  # a step whose p99 passes this is queueing without bound: stop stepping


@dataclass(frozen=True)
class RateResult:
    rate: float
    seconds: float
    requests: int
    errors: int
    ack: Summary  # ms, from writing the request to the complete response
    from_schedule: Summary  # ms, from the scheduled send time (includes generator lateness)
    lateness_p99_ms: float
    drain_seconds: float  # after the step, until the worker had routed every message
    achieved_rate: float  # responses per second over the step
    loadgen_cpu: float  # the generator's CPU seconds per second of load
    connections: int
    error_kinds: dict[str, int]

    @property
    def meets_p99(self) -> bool:
        return self.errors == 0 and self.ack.p99 < P99_BUDGET_MS

    @property
    def kept_up(self) -> bool:
        return self.errors == 0 and self.ack.p99 < COLLAPSE_MS


@dataclass(frozen=True)
class AckResult:
    at_rate: RateResult
    turns: int
    drain_seconds: float  # after the last request, until every lead had its reply


def rate_result(rate: float, seconds: float, drive: Drive, drain: float) -> RateResult:
    ok = [o for o in drive.outcomes if o.ok]
    kinds: dict[str, int] = {}
    for outcome in drive.errors:
        kinds[outcome.error] = kinds.get(outcome.error, 0) + 1
    span = drive.span or seconds
    return RateResult(
        rate=rate, seconds=seconds, requests=len(drive.outcomes), errors=len(drive.errors),
        ack=Summary.of([o.latency_ms for o in ok]), from_schedule=Summary.of([o.from_schedule_ms for o in ok]),
        lateness_p99_ms=Summary.of([o.lateness_ms for o in drive.outcomes]).p99, drain_seconds=drain,
        achieved_rate=len(ok) / span, loadgen_cpu=drive.cpu_seconds / span, connections=drive.connections,
        error_kinds=kinds,
    )


def warm_up(rig: Rig) -> None:
    """Let every gunicorn worker thread open its connections before anything is measured."""
    rig.drive(workload.steady(WARMUP_PHASE, 100, 2), "warmup", workload.UNREGISTERED)
    rig.wait_idle(60)


def drain_timeout(rig: Rig, work: int) -> float:
    """Generous: the fleet may be far behind when it is slower than the offered load."""
    return rig.params.quiet + 2 * rig.params.llm_latency + max(180.0, work / 10)


def measure_ack(rig: Rig) -> AckResult:
    params = rig.params
    messages = workload.chatty(ACK_PHASE, params.ack_rate, params.ack_seconds, params.ack_burst, ACK_BURST_GAP)
    drive = rig.drive(messages, "ack")
    drain = rig.wait_idle(drain_timeout(rig, len(messages)))
    turns = int(rig.sql("SELECT count(*) FROM turns t JOIN conversations c ON c.id = t.conversation_id "
                        "JOIN leads l ON l.id = c.lead_id WHERE l.address LIKE %s",
                        workload.phase_prefix(ACK_PHASE) + "%")[0][0])
    return AckResult(rate_result(params.ack_rate, params.ack_seconds, drive, drain), turns, drain)


def step_up(rig: Rig, say) -> list[RateResult]:
    """Raise the rate step by step until errors appear or latency collapses."""
    steps = []
    for index, rate in enumerate(rig.params.step_rates):
        messages = workload.steady(STEP_PHASE + index, rate, rig.params.step_seconds)
        drive = rig.drive(messages, f"step-{int(rate)}", workload.UNREGISTERED)
        drain = rig.wait_idle(drain_timeout(rig, len(messages)))
        result = rate_result(rate, rig.params.step_seconds, drive, drain)
        steps.append(result)
        say(f"  {rate:>6.0f}/s: p50 {result.ack.p50:.1f} ms, p99 {result.ack.p99:.1f} ms, "
            f"errors {result.errors}, answered {result.achieved_rate:.0f}/s, routed {drain:.0f} s later")
        if not result.kept_up:
            break
    return steps


def highest(steps: list[RateResult], condition: str) -> float | None:
    """The highest rate whose step and every lower step met `condition` ('meets_p99' or 'kept_up')."""
    best = None
    for step in steps:
        if not getattr(step, condition):
            break
        best = step.rate
    return best
