"""Memory of the fleet: resident set sizes sampled over process trees, and the worker soak.

RSS is summed over every process of the fleet (gunicorn's master and workers, the worker,
the jobs worker, beat). Forked children share pages with their parent, so
the RSS sum counts shared pages more than once; the proportional set size (PSS), which splits
shared pages among the processes that map them, is reported alongside as the physical memory
the fleet really holds.

The soak keeps a steady stream of new leads (one message each) going for ``soak_seconds`` while
the worker's RSS is sampled with the number of finished turns; the slope of RSS over turns, in MB
per 10,000 turns, is what "flat" is judged on. The worker has already served the earlier phases,
so its caches and connection pools are warm.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bench import workload
from bench.fleet import PROCESSES, Fleet
from bench.rig import Rig
from bench.stats import slope

MB = 1024 * 1024
SOAK_PHASE = 50
FLAT_MB_PER_10K = 5.0  # a worker growing faster than this would need restarts within weeks


@dataclass
class Sample:
    at: float
    rss: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rss.values())


@dataclass
class Sampler:
    """Samples the fleet's RSS per process name every `interval` seconds in a thread."""

    fleet: Fleet
    interval: float = 1.0
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self.samples.append(self.sample())

    def sample(self) -> Sample:
        return Sample(time.time(), {name: self.fleet.rss(name) for name in PROCESSES})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())

    @property
    def peak(self) -> Sample:
        return max(self.samples, key=lambda s: s.total)

    @property
    def end(self) -> Sample:
        return self.samples[-1]


def pss_by_process(fleet: Fleet) -> dict[str, int]:
    return {name: fleet.pss(name) for name in PROCESSES}


@dataclass(frozen=True)
class SoakResult:
    seconds: float
    rate: float
    turns: int
    points: list[tuple[int, float]]  # (finished turns, worker RSS MB)

    @property
    def first(self) -> float:
        return self.points[0][1]

    @property
    def last(self) -> float:
        return self.points[-1][1]

    @property
    def peak(self) -> float:
        return max(mb for _, mb in self.points)

    @property
    def mb_per_10k(self) -> float:
        return slope([t for t, _ in self.points], [mb for _, mb in self.points]) * 10_000

    @property
    def flat(self) -> bool:
        return self.mb_per_10k <= FLAT_MB_PER_10K


def finished_turns(rig: Rig) -> int:
    return int(rig.sql("SELECT count(*) FROM turns WHERE status <> 'running'")[0][0])


def measure_soak(rig: Rig) -> SoakResult:
    params = rig.params
    messages = workload.steady(SOAK_PHASE, params.soak_rate, params.soak_seconds)
    failure: list[BaseException] = []

    def load() -> None:
        try:
            rig.drive(messages, "soak")
        except BaseException as exc:  # re-raised in the measuring thread
            failure.append(exc)

    driver = threading.Thread(target=load, name="soak-load", daemon=True)
    start_turns = finished_turns(rig)
    points = [(0, rig.fleet.rss("worker") / MB)]
    driver.start()
    while driver.is_alive():
        driver.join(params.soak_interval)
        points.append((finished_turns(rig) - start_turns, rig.fleet.rss("worker") / MB))
    if failure:
        raise failure[0]
    rig.wait_answered(SOAK_PHASE, len(messages), params.quiet + 2 * params.llm_latency + 120)
    points.append((finished_turns(rig) - start_turns, rig.fleet.rss("worker") / MB))
    return SoakResult(params.soak_seconds, params.soak_rate, points[-1][0], points)
