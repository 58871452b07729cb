"""Per-process counters of SQL statements and Redis round trips.

The database engine and the Redis client increment these; tests read them around a call to
assert query budgets, and a worker writes them to a file at shutdown for the benchmark.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Counters:
    sql: int = 0
    redis: int = 0

    def snapshot(self) -> "Counters":
        return Counters(self.sql, self.redis)

    def since(self, before: "Counters") -> "Counters":
        return Counters(self.sql - before.sql, self.redis - before.redis)


counters = Counters()


def dump_counters(directory: str | os.PathLike[str], label: str) -> Path:
    """Write this process's counters as JSON into `directory` (one file per process)."""
    path = Path(directory) / f"{label}-{os.getpid()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(counters)))
    return path
