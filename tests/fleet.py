"""The real fleet for end-to-end tests: the Procfile's processes, started as subprocesses.

`Fleet` starts web (gunicorn), worker (celery, threads pool), jobs (celery, threads pool), beat and,
when asked, flower (behind `$FLOWER_BASIC_AUTH`), with a given environment; it can kill -9 and
restart any of them, and waits on conditions in Postgres or the stand-ins. Process output goes to
log files under the test's temporary directory, printed when a test fails.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import requests

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until `condition()` is truthy and return its value; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def commands(port: int, workdir: Path, name: str, flower_port: int | None = None,
             flower_auth: str = "") -> dict[str, list[str]]:
    celery = [PYTHON, "-m", "celery", "-A", "tasks"]
    table = {
        "web": [PYTHON, "-m", "gunicorn", "web:create_app()", "--config", "web/gunicorn_conf.py",
                "--bind", f"127.0.0.1:{port}"],
        "worker": celery + ["worker", "--pool", "threads", "--concurrency", "100", "--queues", "ingest,agent,send",
                            "--hostname", f"io-{name}@%h", "--without-gossip", "--without-mingle",
                            "--loglevel", "INFO"],
        "jobs": celery + ["worker", "--pool", "threads", "--concurrency", "4", "--queues", "periodic",
                          "--hostname", f"jobs-{name}@%h", "--without-gossip", "--without-mingle",
                          "--loglevel", "INFO"],
        "beat": celery + ["beat", "--schedule", str(workdir / "beat-schedule"), "--loglevel", "INFO"],
    }
    if flower_port is not None:
        table["flower"] = celery + ["flower", f"--port={flower_port}", "--address=127.0.0.1",
                                    f"--basic-auth={flower_auth}"]
    return table


class Fleet:
    def __init__(self, env: dict[str, str], workdir: Path, processes: tuple[str, ...] = ("web", "worker", "jobs")):
        self.env = {**os.environ, **env, "PYTHONPATH": str(ROOT), "WEB_CONCURRENCY": "1", "PYTHONUNBUFFERED": "1"}
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = uuid.uuid4().hex[:8]
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.wanted = processes
        self.http = requests.Session()
        self.flower_port = free_port()
        self.flower_url = f"http://127.0.0.1:{self.flower_port}"

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, *names: str) -> "Fleet":
        for name in names or self.wanted:
            self._spawn(name)
        for name in names or self.wanted:
            self.wait_ready(name)
        return self

    def _spawn(self, name: str) -> None:
        argv = commands(self.port, self.workdir, self.name, self.flower_port,
                        self.env.get("FLOWER_BASIC_AUTH", ""))[name]
        log = open(self.workdir / f"{name}.log", "ab")
        log.write(f"\n--- start {shlex.join(argv)}\n".encode())
        log.flush()
        self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        if name == "web":
            wait_until(self._web_up, timeout, 0.2, "the web process to answer /health")
        elif name in ("worker", "jobs"):
            wait_until(lambda: b" ready." in self.log(name).encode(), timeout, 0.2, f"the {name} process")
        elif name == "beat":
            wait_until(lambda: "beat: Starting" in self.log(name), timeout, 0.2, "beat")
        elif name == "flower":
            wait_until(self._flower_up, timeout, 0.2, "flower to answer /healthcheck")

    def _flower_up(self) -> bool:
        try:  # /healthcheck is the one page flower serves without credentials
            return self.http.get(self.flower_url + "/healthcheck", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def relaunch(self, name: str, timeout: float = 60) -> None:
        """Start `name` again (after a kill) and wait until the *new* process is ready.

        Unlike `start`, readiness is judged only from log lines the new process writes, so an
        earlier run's "ready" line in the same log does not count.
        """
        self.kill(name)  # no-op when it is already dead
        offset = len(self.log(name))
        self._spawn(name)
        if name in ("worker", "jobs"):
            wait_until(lambda: b" ready." in self.log(name)[offset:].encode(), timeout, 0.2, f"the new {name}")
        elif name == "beat":
            wait_until(lambda: "beat: Starting" in self.log(name)[offset:], timeout, 0.2, "the new beat")
        else:
            self.wait_ready(name, timeout)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def _web_up(self) -> bool:
        try:
            return self.http.get(self.url + "/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.procs.pop(name, None)
        if proc and proc.poll() is None:
            os.killpg(proc.pid, sig)
            proc.wait(30)

    def restart(self, name: str) -> None:
        self.kill(name)
        self._spawn(name)
        self.wait_ready(name)

    def stop(self) -> None:
        """SIGTERM every process, all at once (a warm shutdown takes seconds), then wait for each."""
        stopping = list(self.procs.values())
        self.procs.clear()
        for proc in stopping:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in stopping:
            proc.wait(30)

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"===== {p.stem} =====\n{p.read_text(errors='replace')[-6000:]}"
                         for p in sorted(self.workdir.glob("*.log")))

    # -- driving it ----------------------------------------------------------------------------
    def post(self, path: str, json: Any = None, headers: dict[str, str] | None = None,
             data: bytes | str | None = None, params: dict[str, str] | None = None) -> requests.Response:
        return self.http.post(self.url + path, json=json, data=data, headers=headers, params=params, timeout=10)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=10, **kwargs)

    def evolution(self, payload: dict[str, Any]) -> requests.Response:
        return self.post("/webhooks/evolution", json=payload,
                         headers={"X-Webhook-Secret": self.env["EVOLUTION_WEBHOOK_SECRET"]})

    def sandbox(self, phone: str, text: str, message_id: str | None = None) -> requests.Response:
        body = {"phone": phone, "text": text, **({"id": message_id} if message_id else {})}
        return self.post("/webhooks/sandbox", json=body, params={"secret": self.env["SDR_SANDBOX_SECRET"]})
