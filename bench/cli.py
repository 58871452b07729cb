"""Command line of ``python -m bench``: options, the order of the phases, and a clean exit.

Phases run in this order on one fleet: webhook ack, step-up, turn overhead, sustained intake, soak,
per-turn costs (which restarts the worker). A phase that fails is reported as not measured and the
next one runs; Ctrl-C or SIGTERM stops everything the run started and writes no report.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from bench import costs, machine, memory, report, services, turns, webhook
from bench.cpu import CpuMeter
from bench.rig import Params, Rig, open_rig

QUICK = dict(ack_seconds=4.0, step_rates=(200, 400, 800), step_seconds=3.0, conversations=50, intake_seconds=10.0,
             soak_seconds=20.0, soak_interval=2.0, cost_leads=30)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    d = Params()
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run the sdr fleet against the protocol stand-ins and measure it against the budgets of "
                    "DESIGN §9; the results go to docs/benchmarks.md. DATABASE_URL and REDIS_URL name the servers "
                    "to use (a throwaway database and a free Redis index are taken on them).")
    parser.add_argument("--quick", action="store_true", help="short phases (about 2 minutes) for a quick check")
    parser.add_argument("--llm-latency", type=float, default=d.llm_latency, help=f"seconds per model call (default {d.llm_latency:g})")
    parser.add_argument("--quiet", type=float, default=d.quiet, help=f"SDR_BUFFER_QUIET_SECONDS (default {d.quiet:g})")
    parser.add_argument("--ack-rate", type=float, default=d.ack_rate, help=f"webhook requests per second (default {d.ack_rate:g})")
    parser.add_argument("--ack-burst", type=int, default=d.ack_burst,
                        help=f"messages per new lead in the ack phase (default {d.ack_burst})")
    parser.add_argument("--ack-seconds", type=float, default=None, help=f"default {d.ack_seconds:g} (quick 4)")
    parser.add_argument("--step-rates", default=None, help="comma-separated rates for the step-up "
                        f"(default {','.join(f'{r:g}' for r in d.step_rates)})")
    parser.add_argument("--step-seconds", type=float, default=None, help=f"default {d.step_seconds:g} (quick 3)")
    parser.add_argument("--conversations", type=int, default=None, help=f"default {d.conversations} (quick 50)")
    parser.add_argument("--intake-rate", type=float, default=d.intake_rate, help=f"new leads per second (default {d.intake_rate:g})")
    parser.add_argument("--intake-seconds", type=float, default=None, help=f"default {d.intake_seconds:g} (quick 10)")
    parser.add_argument("--soak-seconds", type=float, default=None, help=f"default {d.soak_seconds:g} (quick 20)")
    parser.add_argument("--soak-rate", type=float, default=d.soak_rate, help=f"new leads per second during the soak (default {d.soak_rate:g})")
    parser.add_argument("--cost-leads", type=int, default=None, help=f"default {d.cost_leads} (quick 30)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the fleet (repeatable), e.g. SDR_WORKER_CONCURRENCY=300")
    parser.add_argument("--only", default=None, help="comma-separated phases to run: " + ",".join(PHASE_NAMES))
    parser.add_argument("--output", type=Path, default=report.REPORT, help="where to write the Markdown report (default docs/benchmarks.md)")
    parser.add_argument("--no-report", action="store_true", help="print the summary only")
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs and load plans after the run")
    return parser.parse_args(argv)


def build_params(args: argparse.Namespace) -> Params:
    params = replace(Params(), **(QUICK if args.quick else {}))
    chosen: dict[str, Any] = {"llm_latency": args.llm_latency, "quiet": args.quiet, "ack_rate": args.ack_rate,
                              "intake_rate": args.intake_rate, "soak_rate": args.soak_rate, "ack_burst": args.ack_burst,
                              "keep_workdir": args.keep_workdir}
    for name in ("ack_seconds", "step_seconds", "conversations", "intake_seconds", "soak_seconds", "cost_leads"):
        if getattr(args, name) is not None:
            chosen[name] = getattr(args, name)
    if args.step_rates:
        chosen["step_rates"] = tuple(float(x) for x in args.step_rates.split(","))
    chosen["env"] = dict(item.split("=", 1) for item in args.env)
    chosen["database_url"] = os.environ.get("DATABASE_URL") or params.database_url
    chosen["redis_url"] = os.environ.get("REDIS_URL") or params.redis_url
    return replace(params, **chosen)


def say(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)


def phase_ack(rig: Rig, results: report.Results) -> None:
    webhook.warm_up(rig)
    results.ack = webhook.measure_ack(rig)
    a = results.ack.at_rate
    say(f"  ack p50 {a.ack.p50:.1f} ms, p99 {a.ack.p99:.1f} ms, max {a.ack.max:.1f} ms, errors {a.errors}; "
        f"{results.ack.turns} turns answered {results.ack.drain_seconds:.0f} s after the last request")


def phase_steps(rig: Rig, results: report.Results) -> None:
    results.steps = webhook.step_up(rig, say)


def phase_overhead(rig: Rig, results: report.Results) -> None:
    results.overhead = o = turns.measure_overhead(rig)
    say(f"  overhead p50 {o.overhead.p50:.0f} ms, p95 {o.overhead.p95:.0f} ms, p99 {o.overhead.p99:.0f} ms; "
        f"model calls in flight {o.max_in_flight}")


def phase_intake(rig: Rig, results: report.Results) -> None:
    results.intake = i = turns.measure_intake(rig)
    say(f"  answered {i.answered_rate:.1f} leads/s, time to reply p95 {i.time_to_reply.p95:.0f} ms, "
        f"lost {i.delivery.lost}, duplicated {i.delivery.duplicated}, "
        f"peak RSS {sum(i.rss_peak.values()) / memory.MB:.0f} MB")


def phase_soak(rig: Rig, results: report.Results) -> None:
    results.soak = s = memory.measure_soak(rig)
    say(f"  worker RSS {s.first:.0f} -> {s.last:.0f} MB over {s.turns} turns ({s.mb_per_10k:+.1f} MB / 10k turns)")


def phase_costs(rig: Rig, results: report.Results) -> None:
    results.costs = c = costs.measure_costs(rig)
    say(f"  per turn: {c.sql_per_turn:.2f} SQL, {c.redis_per_turn:.2f} Redis round trips, "
        f"{c.broker_per_turn:.1f} broker commands")


PHASES: dict[str, tuple[str, Callable[[Rig, report.Results], None]]] = {
    "ack": ("webhook ack", phase_ack),
    "steps": ("highest webhook rate", phase_steps),
    "overhead": ("turn overhead", phase_overhead),
    "intake": (report.INTAKE_TITLE, phase_intake),
    "soak": ("worker soak", phase_soak),
    "costs": ("per-turn costs", phase_costs),
}
PHASE_NAMES = tuple(PHASES)


def roles(rig: Rig) -> Callable[[], dict[int, str]]:
    def known() -> dict[int, str]:
        found = {process.pid: name for name, process in list(rig.fleet.procs.items())}
        found.update({rig.llm.process.pid: "stand-ins", rig.evolution.process.pid: "stand-ins"})
        return found

    return known


def run_phases(rig: Rig, results: report.Results, only: set[str], meter: CpuMeter) -> None:
    for key, (title, phase) in PHASES.items():
        if key not in only:
            continue
        say(f"phase: {title}")
        begin = meter.mark()
        try:
            rig.fleet.check_alive()
            phase(rig, results)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as exc:  # one phase failing must not lose the others' figures
            results.failures[title] = f"{type(exc).__name__}: {exc}"
            say(f"  FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc()
        results.cpu[title] = meter.between(begin, meter.mark())
        other = results.cpu[title].share("other processes")
        if other > report.FOREIGN_CPU_WARNING:
            say(f"  note: processes outside the benchmark used {other:.0f}% of the machine during this phase")


def interrupt_on_signals() -> None:
    """Ctrl-C and SIGTERM both unwind the run (even when started with SIGINT ignored, as `&` does);
    further signals are ignored so the clean-up, which has its own time limits, runs to the end."""
    def handler(signum: int, frame: object) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(params: Params, quick: bool, only: set[str], workdir: Path) -> report.Results:
    """Set everything up, run the phases, and tear everything down again (also on errors)."""
    with contextlib.ExitStack() as stack:
        facts = machine.facts(services.check_postgres(params.database_url), services.check_redis(params.redis_url))
        results = report.Results(params, facts, quick)
        rig = open_rig(params, workdir, stack, say)
        meter = CpuMeter(roles(rig)).start()
        stack.callback(meter.stop)
        run_phases(rig, results, only, meter)
        say("stopping the fleet and cleaning up")
    return results


def finish(results: report.Results, args: argparse.Namespace, workdir: Path) -> int:
    if not args.no_report:
        say(f"report written to {report.write(results, args.output)}")
    print("\n" + report.console(results))
    if results.params.keep_workdir or results.failures:
        say(f"logs and load plans kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if results.failures else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    params = build_params(args)
    only = set(args.only.split(",")) if args.only else set(PHASE_NAMES)
    if only - set(PHASE_NAMES):
        print(f"unknown phase(s): {', '.join(sorted(only - set(PHASE_NAMES)))}; "
              f"choose from {', '.join(PHASE_NAMES)}", file=sys.stderr)
        return 2
    interrupt_on_signals()
    workdir = Path(tempfile.mkdtemp(prefix="sdr-bench-"))
    began = time.monotonic()
    try:
        results = run(params, args.quick, only, workdir)
    except services.ServiceError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
        return 2
    except KeyboardInterrupt:
        print(f"\nbench: interrupted; every process it started was stopped (logs in {workdir})", file=sys.stderr)
        return 130
    except Exception as exc:
        traceback.print_exc()
        print(f"bench: {type(exc).__name__}: {exc}\n  logs of the fleet are in {workdir}", file=sys.stderr)
        return 1
    results.seconds = time.monotonic() - began
    return finish(results, args, workdir)
