"""Open-loop HTTP load generator, run as its own process: ``python -m bench.loadgen PLAN RESULT``.

The plan (JSON) lists POST bodies with the offset, in seconds, at which each must be sent. A
scheduler greenlet fires every request at its offset whether or not earlier ones were answered
(open loop, so a slow server cannot slow the offered load down), each on an idle keep-alive
connection or a new one. Requests are written on raw gevent sockets from pre-built bytes, so the
generator's own CPU cost per request stays small on a machine it shares with the fleet.

For each request the result records, relative to the start: the scheduled offset, when it was
actually written (the difference is the generator's lateness), when the response was complete,
the status and any error; plus the start's wall-clock time, the generator's CPU seconds and how
many connections it opened.
"""

from __future__ import annotations

import json
import os
import resource
import socket as std_socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent import socket
from gevent.lock import BoundedSemaphore

START_DELAY = 0.3  # seconds between loading the plan and the first scheduled send
IDLE_REUSE_SECONDS = 4.0  # below gunicorn's keepalive (5 s): older idle connections are dropped


class Disconnected(Exception):
    """The server closed the connection before a complete response."""


@dataclass
class Connections:
    """Keep-alive connections to one address; at most `limit` requests in flight."""

    address: tuple[str, int]
    limit: int
    idle: list[tuple[socket.socket, float]] = field(default_factory=list)
    opened: int = 0

    def __post_init__(self) -> None:
        self.slots = BoundedSemaphore(self.limit)

    def take(self) -> tuple[socket.socket, bool]:
        """A connection and whether it was reused; the caller holds a slot until `give`."""
        while self.idle:
            sock, since = self.idle.pop()
            if time.perf_counter() - since < IDLE_REUSE_SECONDS:
                return sock, True
            sock.close()
        return self.fresh(), False

    def fresh(self) -> socket.socket:
        sock = socket.create_connection(self.address, timeout=5)
        sock.setsockopt(std_socket.IPPROTO_TCP, std_socket.TCP_NODELAY, 1)
        self.opened += 1
        return sock

    def give(self, sock: socket.socket | None, keep: bool) -> None:
        if sock is not None:
            if keep:
                self.idle.append((sock, time.perf_counter()))
            else:
                sock.close()

    def close(self) -> None:
        for sock, _ in self.idle:
            sock.close()
        self.idle.clear()


def read_response(sock: socket.socket) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; return its status and whether the connection may be reused."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise Disconnected()
        buffer += chunk
    head, _, body = buffer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(b":") for line in lines[1:])}
    if b"content-length" not in headers:
        while sock.recv(65536):
            pass
        return status, False
    length = int(headers[b"content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise Disconnected()
        body += chunk
    return status, headers.get(b"connection", b"").lower() != b"close"


def exchange(pool: Connections, payload: bytes) -> int:
    """Send one request and read its response; a reused connection the server has closed
    meanwhile is replaced once."""
    for attempt in (1, 2):
        sock, reused = pool.take()
        keep = False
        try:
            sock.sendall(payload)
            status, keep = read_response(sock)
            return status
        except (Disconnected, ConnectionResetError, BrokenPipeError):
            if not reused or attempt == 2:
                raise
        finally:
            pool.give(sock, keep)
    raise AssertionError("unreachable")


def request_bytes(plan: dict[str, Any], body: str) -> bytes:
    encoded = body.encode()
    headers = {"Host": f"{plan['host']}:{plan['port']}", "Content-Type": "application/json",
               "Content-Length": str(len(encoded)), **plan.get("headers", {})}
    head = f"POST {plan['path']} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode() + encoded


class Run:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.timeout = float(plan.get("timeout", 5.0))
        self.offsets = [float(item["at"]) for item in plan["requests"]]
        self.payloads = [request_bytes(plan, item["body"]) for item in plan["requests"]]
        self.pool = Connections((plan["host"], int(plan["port"])), int(plan.get("max_connections", 1000)))
        self.results: list[list[Any]] = [[] for _ in self.offsets]
        self.in_flight = 0
        self.max_in_flight = 0
        self.t0 = 0.0

    def fire(self, index: int) -> None:
        sent = time.perf_counter() - self.t0
        status, error = -1, ""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            with self.pool.slots, gevent.Timeout(self.timeout):
                status = exchange(self.pool, self.payloads[index])
            error = "" if 200 <= status < 300 else f"HTTP {status}"
        except gevent.Timeout:
            error = "timeout"
        except (OSError, Disconnected, ValueError, IndexError) as exc:
            error = type(exc).__name__
        finally:
            self.in_flight -= 1
        done = time.perf_counter() - self.t0
        self.results[index] = [status, self.offsets[index], sent, done, error]

    def schedule(self) -> list[gevent.Greenlet]:
        greenlets = []
        for index, offset in enumerate(self.offsets):
            delay = self.t0 + offset - time.perf_counter()
            if delay > 0:
                gevent.sleep(delay)
            greenlets.append(gevent.spawn(self.fire, index))
        return greenlets

    def run(self) -> dict[str, Any]:
        cpu_before = cpu_seconds()
        self.t0 = time.perf_counter() + START_DELAY
        wall0 = time.time() + START_DELAY
        gevent.joinall(self.schedule())
        self.pool.close()
        return {"t0_wall": wall0, "cpu_seconds": cpu_seconds() - cpu_before, "connections": self.pool.opened,
                "max_in_flight": self.max_in_flight, "results": self.results}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str]) -> int:
    raise_open_files_limit()
    if len(argv) != 2:
        print("usage: python -m bench.loadgen PLAN.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0]) as handle:
        plan = json.load(handle)
    result = Run(plan).run()
    with open(argv[1], "w") as handle:
        json.dump(result, handle)
    return 0


# -- the benchmark's side: run a plan in a generator process and read what it measured --------------


@dataclass(frozen=True)
class Outcome:
    """One request: offsets in seconds from the generator's start; `ack_wall` is wall-clock time."""

    status: int
    scheduled: float
    sent: float
    done: float
    error: str
    ack_wall: float

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def latency_ms(self) -> float:
        """From writing the request to the complete response."""
        return (self.done - self.sent) * 1000

    @property
    def from_schedule_ms(self) -> float:
        """From the scheduled send time to the complete response (includes the generator's lateness)."""
        return (self.done - self.scheduled) * 1000

    @property
    def lateness_ms(self) -> float:
        return (self.sent - self.scheduled) * 1000


@dataclass(frozen=True)
class Drive:
    t0_wall: float
    cpu_seconds: float
    connections: int
    max_in_flight: int
    outcomes: list[Outcome]

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def span(self) -> float:
        """Seconds from the first scheduled send to the last response."""
        if not self.outcomes:
            return 0.0
        return max(o.done for o in self.outcomes) - min(o.scheduled for o in self.outcomes)


class LoadgenError(RuntimeError):
    pass


def drive(plan: dict[str, Any], workdir: Path, name: str) -> Drive:
    """Run `plan` in a generator process and return its measurements (raises LoadgenError)."""
    plan_path, result_path = workdir / f"{name}.plan.json", workdir / f"{name}.result.json"
    plan_path.write_text(json.dumps(plan))
    duration = max((item["at"] for item in plan["requests"]), default=0.0)
    limit = duration + float(plan.get("timeout", 5.0)) + 60
    log = open(workdir / f"{name}.loadgen.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(plan_path), str(result_path)],
                               cwd=Path(__file__).resolve().parent.parent, stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
                               start_new_session=True)
    try:
        code = process.wait(limit)
    except subprocess.TimeoutExpired:
        raise LoadgenError(f"load generator for {name} still running after {limit:.0f}s") from None
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        log.close()
    if code != 0:
        tail = (workdir / f"{name}.loadgen.log").read_text(errors="replace")[-2000:]
        raise LoadgenError(f"load generator for {name} exited with {code}: {tail}")
    return read_drive(json.loads(result_path.read_text()))


def read_drive(raw: dict[str, Any]) -> Drive:
    wall0 = raw["t0_wall"]
    outcomes = [Outcome(status, scheduled, sent, done, error, wall0 + done)
                for status, scheduled, sent, done, error in raw["results"]]
    return Drive(wall0, raw["cpu_seconds"], raw["connections"], raw["max_in_flight"], outcomes)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
