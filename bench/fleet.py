"""The fleet under test: the Procfile's web, worker, jobs and beat commands, run as subprocesses.

Commands are read from the Procfile itself (``${VAR:-default}`` expanded with the run's
environment), so the benchmark measures what is deployed: gunicorn with ``web/gunicorn_conf.py``,
the threads-pool worker at its configured concurrency, the jobs worker and beat. The only change
is that web binds to 127.0.0.1 on a free port. Each process gets its own session (so it can be
signalled as a group) and a log file in the run's work directory.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("web", "worker", "jobs", "beat")
READY_MARKERS = {"worker": " ready.", "jobs": " ready.", "beat": "beat: Starting"}
VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


class FleetError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> object:
    """Poll `condition` until it is truthy and return its value; FleetError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise FleetError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def expand(command: str, env: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name, operator, word = match.groups()
        if env.get(name):
            return env[name]
        if operator == "?":
            raise FleetError(f"Procfile needs {name}: {word}")
        return word or ""

    return VARIABLE.sub(value, command)


def procfile_commands(env: dict[str, str], port: int) -> dict[str, list[str]]:
    """argv per process name for the fleet's processes, from the Procfile."""
    commands = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, sep, command = line.partition(":")
        if not sep or name.strip() not in PROCESSES:
            continue
        argv = shlex.split(expand(command.strip(), env))
        if argv[0] in ("gunicorn", "celery"):
            argv = [sys.executable, "-m", *argv]
        if name.strip() == "web":
            argv += ["--bind", f"127.0.0.1:{port}"]
        commands[name.strip()] = argv
    missing = set(PROCESSES) - set(commands)
    if missing:
        raise FleetError(f"the Procfile has no {', '.join(sorted(missing))} process")
    return commands


class Fleet:
    def __init__(self, env: dict[str, str], workdir: Path, extra_env: dict[str, dict[str, str]] | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.extra_env = extra_env or {}  # per process name
        self.workdir = workdir
        self.commands = procfile_commands(self.env, self.port)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.log_offsets: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self, *names: str, timeout: float = 90) -> None:
        for name in names or PROCESSES:
            self.spawn(name)
        for name in names or PROCESSES:
            self.wait_ready(name, timeout)

    def spawn(self, name: str) -> None:
        path = self.log_path(name)
        self.log_offsets[name] = path.stat().st_size if path.exists() else 0
        log = open(path, "ab")
        log.write(f"\n--- start {shlex.join(self.commands[name])}\n".encode())
        log.flush()
        env = {**self.env, **self.extra_env.get(name, {})}
        self.procs[name] = subprocess.Popen(self.commands[name], cwd=ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        log.close()

    def wait_ready(self, name: str, timeout: float) -> None:
        def ready() -> bool:
            process = self.procs[name]
            if process.poll() is not None:
                raise FleetError(f"{name} exited with {process.returncode} while starting:\n{self.tail(name)}")
            if name == "web":
                return self.web_up()
            return READY_MARKERS[name].encode() in self.log_bytes(name)[self.log_offsets[name]:]

        wait_until(ready, timeout, f"the {name} process to be ready")

    def web_up(self) -> bool:
        try:
            return requests.get(self.url + "/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, name: str, timeout: float = 45) -> int | None:
        """SIGTERM the process group (warm shutdown), SIGKILL it after `timeout`; the exit code."""
        process = self.procs.pop(name, None)
        if process is None:
            return None
        if process.poll() is None:
            signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                signal_group(process.pid, signal.SIGKILL)
                process.wait(10)
        signal_group(process.pid, signal.SIGKILL)  # children left behind by the leader, if any
        return process.returncode

    def stop_all(self) -> None:
        for name in list(self.procs):
            self.stop(name)

    def check_alive(self) -> None:
        for name, process in self.procs.items():
            if process.poll() is not None:
                raise FleetError(f"{name} died (exit {process.returncode}):\n{self.tail(name)}")

    # -- observing -------------------------------------------------------------------------------------------
    def tree(self, name: str) -> list[psutil.Process]:
        """The process and all its descendants (gunicorn's workers, any pool children)."""
        process = self.procs.get(name)
        if process is None or process.poll() is not None:
            return []
        try:
            root = psutil.Process(process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self, name: str) -> int:
        total = 0
        for process in self.tree(name):
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def pss(self, name: str) -> int:
        total = 0
        for process in self.tree(name):
            try:
                total += process.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied, AttributeError):
                pass
        return total

    def process_counts(self) -> dict[str, int]:
        return {name: len(self.tree(name)) for name in self.procs}

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def log_bytes(self, name: str) -> bytes:
        path = self.log_path(name)
        return path.read_bytes() if path.exists() else b""

    def log(self, name: str) -> str:
        return self.log_bytes(name).decode(errors="replace")

    def tail(self, name: str, chars: int = 4000) -> str:
        return self.log(name)[-chars:]


def signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
