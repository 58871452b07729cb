"""Where the machine's CPU goes during each phase: the fleet's processes, the stand-ins, the load
generator, Postgres, Redis, and every other process on the machine.

A thread reads the CPU times of all processes every second and adds each process's increase to
its category. The report shows, per phase, each category's share of the machine (100 % = every
CPU busy), so a reader can see how much the generator and the stand-ins took from the fleet and
whether anything outside the benchmark was competing with it.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import psutil

CATEGORIES = ("web", "worker", "jobs", "beat", "stand-ins", "load generator", "postgres", "redis", "bench",
              "other processes")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds per category over `wall` seconds on a machine with `cpus` CPUs."""

    seconds: dict[str, float]
    wall: float
    cpus: int

    def share(self, category: str) -> float:
        """Percent of the whole machine."""
        return 100 * self.seconds.get(category, 0.0) / max(self.wall * self.cpus, 1e-9)

    @property
    def total(self) -> float:
        return sum(self.share(c) for c in CATEGORIES)


@dataclass(frozen=True)
class Mark:
    at: float
    seconds: Counter  # CPU seconds per category since the meter started


@dataclass
class CpuMeter:
    """`roles()` maps pid -> category for the processes the benchmark knows (fleet, stand-ins)."""

    roles: Callable[[], dict[int, str]]
    interval: float = 1.0
    totals: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-meter", daemon=True)
        self._me = os.getpid()
        self.cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

    def start(self) -> "CpuMeter":
        self._last = {pid: used for pid, used, _, _ in self._read()}
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def mark(self) -> Mark:
        self._sample()
        with self._lock:
            return Mark(time.monotonic(), Counter(self.totals))

    def between(self, begin: Mark, end: Mark) -> CpuUse:
        seconds = {c: end.seconds.get(c, 0.0) - begin.seconds.get(c, 0.0) for c in CATEGORIES}
        return CpuUse(seconds, end.at - begin.at, self.cpus)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _read(self) -> list[tuple[int, float, str, int]]:
        found = []
        for process in psutil.process_iter(["pid", "ppid", "name", "cpu_times"]):
            info = process.info
            times = info.get("cpu_times")
            if times is not None:
                found.append((info["pid"], times.user + times.system, info.get("name") or "", info.get("ppid") or 0))
        return found

    def _sample(self) -> None:
        rows = self._read()
        roles = self.roles()
        parents = {pid: ppid for pid, _, _, ppid in rows}
        with self._lock:
            seen = {}
            for pid, used, name, _ in rows:
                seen[pid] = used
                delta = used - self._last.get(pid, 0.0)
                if delta > 0:
                    self.totals[self._category(pid, name, roles, parents)] += delta
            self._last = seen

    def _category(self, pid: int, name: str, roles: dict[int, str], parents: dict[int, int]) -> str:
        if pid == self._me:
            return "bench"
        if name.startswith("postgres"):
            return "postgres"
        if name.startswith("redis-server"):
            return "redis"
        ancestor, hops = pid, 0
        while ancestor and hops < 10:
            if ancestor in roles:
                return roles[ancestor]
            if parents.get(ancestor) == self._me:
                return "load generator"  # any other child of the benchmark: the generator, alembic
            ancestor, hops = parents.get(ancestor, 0), hops + 1
        return "other processes"
