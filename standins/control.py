"""Bookkeeping shared by every stand-in and the ``/_control`` API that exposes it.

A :class:`Control` records each API call (including rejected and faulted ones, with the status returned),
counts calls per kind and concurrent calls in flight, and holds what tests inject: per-call latency, scripted
outputs (FIFO, matched by kind) and faults (``fail_next`` statuses, ``hang_next`` calls). Everything runs in
one gevent hub, so plain attributes are safe without locks.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import gevent
from gevent.event import Event
from werkzeug.wrappers import Request, Response

from standins.wsgi import Router, json_response, read_json

HANG_SECONDS = 3600.0
CORE_KEYS = ("latency", "fail_next", "hang_next", "kind")


class ConfigExtension(Protocol):
    """Server-specific ``/_control/config`` keys, checked before anything is applied."""

    config_keys: tuple[str, ...]

    def check_config(self, cfg: dict[str, Any]) -> str | None: ...
    def apply_config(self, cfg: dict[str, Any]) -> None: ...


@dataclass
class Fault:
    action: str  # "fail" or "hang"
    status: int
    kind: str | None


@dataclass
class Call:
    """What a stand-in endpoint tells :meth:`Control.serve` about one incoming API call."""

    kind: str
    request: Request
    body: Any
    extra: dict[str, Any] = field(default_factory=dict)
    rejection: Response | None = None  # auth/validation failure decided before any fault or script
    entry: dict[str, Any] | None = None  # the stored record, so a producer can add what it answered


class Control:
    def __init__(self, server_kind: str, call_kinds: tuple[str, ...], latency: float,
                 header_names: tuple[str, ...], max_records: int) -> None:
        self.server_kind = server_kind
        self.call_kinds = call_kinds
        self.extension: ConfigExtension | None = None
        self.reset_hooks: list[Callable[[], None]] = []  # server state that /_control/reset also clears
        self.default_latency = latency
        self.header_names = header_names
        self.max_records = max_records
        self.in_flight = 0
        self._release = Event()
        self.reset()

    def reset(self) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=self.max_records)
        self.seq = 0
        self.calls: Counter[str] = Counter()
        self.max_in_flight = self.in_flight
        self.latency = self.default_latency
        self.faults: list[Fault] = []
        self.scripts: list[dict[str, Any]] = []
        # Hung calls wake up and answer 503 so a reset never leaves greenlets parked for an hour.
        self._release.set()
        self._release = Event()
        for hook in self.reset_hooks:
            hook()

    # -- recording -------------------------------------------------------------------------------------------

    def record(self, call: Call) -> dict[str, Any]:
        self.seq += 1
        headers = {name: call.request.headers[name] for name in self.header_names if name in call.request.headers}
        entry = {"seq": self.seq, "time": time.time(), "method": call.request.method, "path": call.request.path,
                 "kind": call.kind, "body": call.body, "headers": headers, "status": None, **call.extra}
        self.records.append(entry)
        self.calls[call.kind] += 1
        return entry

    def stats(self) -> dict[str, Any]:
        return {"calls": dict(self.calls), "in_flight": self.in_flight, "max_in_flight": self.max_in_flight}

    # -- injected behaviour ----------------------------------------------------------------------------------

    def take_fault(self, kind: str) -> Fault | None:
        for action in ("hang", "fail"):
            for index, fault in enumerate(self.faults):
                if fault.action == action and fault.kind in (None, kind):
                    return self.faults.pop(index)
        return None

    def take_script(self, kind: str) -> dict[str, Any] | None:
        for index, entry in enumerate(self.scripts):
            if entry.get("kind") in (None, kind):
                return self.scripts.pop(index)
        return None

    def serve(self, call: Call, error: Callable[[int], Response],
              produce: Callable[[dict[str, Any] | None], Response]) -> Response:
        """Record the call, then answer it: rejection, fault, scripted entry or ``produce(script)``."""
        entry = call.entry = self.record(call)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = self._answer(call, error, produce)
            entry["status"] = response.status_code
            return response
        finally:
            self.in_flight -= 1

    def _answer(self, call: Call, error: Callable[[int], Response],
                produce: Callable[[dict[str, Any] | None], Response]) -> Response:
        if call.rejection is not None:
            return call.rejection
        # Faults and scripts are taken on arrival so concurrent calls consume them in arrival order.
        fault = self.take_fault(call.kind)
        script = None if fault else self.take_script(call.kind)
        if fault is not None and fault.action == "hang":
            self._release.wait(HANG_SECONDS)
            return error(503)
        if self.latency > 0:
            gevent.sleep(self.latency)
        if fault is not None:
            return error(fault.status)
        if script is not None and "status" in script:
            return error(int(script["status"]))
        return produce(script)

    def configure(self, cfg: dict[str, Any]) -> str | None:
        """Apply ``/_control/config`` entirely, or return why it is invalid and apply nothing."""
        extension = self.extension
        unknown = set(cfg) - {*CORE_KEYS, *(extension.config_keys if extension else ())}
        if unknown:
            return f"unknown keys: {sorted(unknown)}"
        latency, kind = cfg.get("latency"), cfg.get("kind")
        fails, hangs = cfg.get("fail_next", []), cfg.get("hang_next", 0)
        if latency is not None and (not isinstance(latency, (int, float)) or latency < 0):
            return "latency must be a number >= 0"
        if isinstance(fails, int):
            fails = [fails]
        if not isinstance(fails, list) or not all(isinstance(s, int) and 400 <= s <= 599 for s in fails):
            return "fail_next must be a list of HTTP status codes 400-599"
        if not isinstance(hangs, int) or hangs < 0:
            return "hang_next must be an integer >= 0"
        if kind is not None and kind not in self.call_kinds:
            return f"kind must be one of {list(self.call_kinds)}"
        problem = extension.check_config(cfg) if extension else None
        if problem:
            return problem
        if extension:
            extension.apply_config(cfg)
        if latency is not None:
            self.latency = float(latency)
        self.faults.extend(Fault("hang", 503, kind) for _ in range(hangs))
        self.faults.extend(Fault("fail", status, kind) for status in fails)
        return None

    def add_scripts(self, body: Any, kinds: tuple[str, ...]) -> str | None:
        entries = body.get("responses") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return "body must be {\"responses\": [...]}"
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("kind") not in (None, *kinds):
                return f"each response needs kind in {list(kinds)} or null"
            status = entry.get("status")
            if not isinstance(entry.get("content"), str) and not (isinstance(status, int) and 400 <= status <= 599):
                return "each response needs a string content or an error status 400-599"
        self.scripts.extend(entries)
        return None

    def snapshot(self) -> dict[str, Any]:
        return {"latency": self.latency, "pending_faults": len(self.faults), "pending_scripts": len(self.scripts)}


def add_control_routes(router: Router, control: Control) -> None:
    """Mount the ``/_control`` endpoints common to every stand-in."""

    def health(request: Request) -> Response:
        return json_response({"ok": True, "kind": control.server_kind})

    def list_requests(request: Request) -> Response:
        kind = request.args.get("kind")
        return json_response([r for r in control.records if kind is None or r["kind"] == kind])

    def reset(request: Request) -> Response:
        control.reset()
        return json_response({"ok": True})

    def configure(request: Request) -> Response:
        cfg, problem = read_json(request)
        if problem is None and not isinstance(cfg, dict):
            problem = "body must be a JSON object"
        problem = problem or control.configure(cfg)
        if problem:
            return json_response({"ok": False, "error": problem}, 400)
        return json_response({"ok": True, **control.snapshot()})

    def stats(request: Request) -> Response:
        return json_response(control.stats())

    router.add("GET", "/_control/health", health)
    router.add("GET", "/_control/requests", list_requests)
    router.add("POST", "/_control/reset", reset)
    router.add("POST", "/_control/config", configure)
    router.add("GET", "/_control/stats", stats)
