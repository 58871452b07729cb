"""Start a stand-in as a subprocess and drive its ``/_control`` API from Python (tests, benchmark, demo).

    with start("llm", latency=0.2) as llm:
        client = openai.OpenAI(api_key="k", base_url=llm.url + "/v1")
        ...
        assert llm.stats()["calls"]["reply"] == 1

Keyword options map to command-line flags (``api_key="x"`` → ``--api-key x``; ``None`` is omitted).
"""

from __future__ import annotations

import atexit
import os
import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

CONTROL_TIMEOUT = 5.0
LISTENING = re.compile(r"^stand-in (\w+) listening on (http://\S+)$")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class StandInError(RuntimeError):
    pass


class StandIn:
    """A running stand-in process and its control API."""

    def __init__(self, kind: str, url: str, process: subprocess.Popen[str],
                 options: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.url = url
        self.process = process
        self.options = options or {}  # what it was started with, e.g. options["api_key"]
        self._session = requests.Session()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then kill if the process has not exited within ``timeout`` seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._session.close()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- control API -----------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, payload: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self._session.request(method, self.url + path, json=payload, params=params,
                                         timeout=CONTROL_TIMEOUT)
        if response.status_code >= 400:
            raise StandInError(f"{method} {path} -> {response.status_code}: {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_control/health")

    def requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/_control/requests", params={"kind": kind} if kind else None)

    def reset(self) -> None:
        self._call("POST", "/_control/reset")

    def configure(self, **cfg: Any) -> dict[str, Any]:
        return self._call("POST", "/_control/config", cfg)

    def script(self, responses: list[dict[str, Any]]) -> dict[str, Any]:
        return self._call("POST", "/_control/script", {"responses": responses})

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_control/stats")

    def sent(self) -> list[dict[str, Any]]:
        return self._call("GET", "/_control/sent")

    def add_files(self, *files: dict[str, Any]) -> dict[str, Any]:
        """media: serve these files (see standins.media for the keys)."""
        return self._call("POST", "/_control/files", {"files": list(files)})

    def bytes_sent(self) -> dict[str, Any]:
        """media: body bytes handed out and requests served, per file."""
        return self._call("GET", "/_control/bytes")


def _command(kind: str, port: int, options: dict[str, Any]) -> list[str]:
    command = [sys.executable, "-m", "standins", kind, "--port", str(port)]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def _read_listening_line(process: subprocess.Popen[str], deadline: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=max(0.0, deadline - time.monotonic())):
                line = process.stdout.readline()
                if not line:
                    break
                found = LISTENING.match(line.strip())
                if found:
                    return found.group(2)
    raise StandInError(f"stand-in did not report its address (exit code {process.poll()})")


def _wait_healthy(stand_in: StandIn, deadline: float) -> None:
    while True:
        try:
            if stand_in.health().get("ok"):
                return
        except (requests.RequestException, StandInError):
            if time.monotonic() > deadline:
                raise
        time.sleep(0.05)


def start(kind: str, port: int = 0, *, ready_timeout: float = 20.0, **options: Any) -> StandIn:
    """Launch ``python -m standins <kind>`` and return it once healthy; options become CLI flags."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT),
                                                                     os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(_command(kind, port, options), stdout=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + ready_timeout
    try:
        url = _read_listening_line(process, deadline)
        stand_in = StandIn(kind, url, process, options)
        _wait_healthy(stand_in, deadline)
    except BaseException:
        process.kill()
        process.wait()
        raise
    atexit.register(stand_in.stop)  # never leave a stand-in behind when a test run aborts
    return stand_in
