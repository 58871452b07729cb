"""Bounded fetching of a lead's file: never more than `max_bytes` in memory, never longer than a deadline.

Three checks keep a huge file out of memory: a declared Content-Length above the limit is refused
before the body is read; a body that turns out larger (no or wrong Content-Length) is cut off while
streaming; inline base64 is measured before it is decoded. One pooled `requests.Session` per process
serves every download (like the LLM client, it is rebuilt after a fork).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
import time
from dataclasses import dataclass

import requests

CHUNK = 64 * 1024
_lock = threading.Lock()
_session: requests.Session | None = None
_session_pid: int | None = None


class DownloadError(Exception):
    """The file could not be fetched. `transient` errors are worth another attempt."""

    transient = False
    reason = "download_failed"


class TransientDownloadError(DownloadError):
    transient = True


class MediaTooLarge(DownloadError):
    reason = "too_large"

    def __init__(self, limit: int, seen: int | None = None):
        super().__init__(f"file larger than the limit of {limit} bytes" + (f" ({seen} declared)" if seen else ""))
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    connect_timeout: float
    deadline_seconds: float  # the whole download, so a trickling sender cannot hold a worker


@dataclass(frozen=True)
class Blob:
    data: bytes
    mime: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def http_session() -> requests.Session:
    """The process's pooled session for media downloads."""
    global _session, _session_pid
    with _lock:
        if _session is None or _session_pid != os.getpid():
            _session = requests.Session()
            _session_pid = os.getpid()
        return _session


def fetch(session: requests.Session, url: str, limits: Limits, headers: dict[str, str] | None = None,
          method: str = "GET", json_body: object = None) -> Blob:
    """Download `url` within `limits`; raises MediaTooLarge, DownloadError or TransientDownloadError."""
    deadline = time.monotonic() + limits.deadline_seconds
    timeout = (limits.connect_timeout, max(0.1, limits.deadline_seconds))
    try:
        response = session.request(method, url, headers=headers, json=json_body, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise TransientDownloadError(f"{type(exc).__name__} fetching media") from None
    with response:
        _check_status(response)
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limits.max_bytes:
            raise MediaTooLarge(limits.max_bytes, int(declared))
        data = _read_bounded(response, limits.max_bytes, deadline)
    mime = (response.headers.get("Content-Type") or "").split(";")[0].strip() or None
    return Blob(data, mime)


def _check_status(response: requests.Response) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        raise TransientDownloadError(f"media server answered HTTP {status}")
    if status >= 400:
        raise DownloadError(f"media server answered HTTP {status}")


def _read_bounded(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        for chunk in response.iter_content(CHUNK):
            total += len(chunk)
            if total > max_bytes:
                raise MediaTooLarge(max_bytes)
            if time.monotonic() > deadline:
                raise TransientDownloadError("media download exceeded its deadline")
            chunks.append(chunk)
    except requests.RequestException as exc:  # broken or short body, read timeout
        raise TransientDownloadError(f"{type(exc).__name__} reading media") from None
    return b"".join(chunks)


def decode_base64(value: str, max_bytes: int) -> Blob:
    """Decode inline base64 (optionally a data URL) after checking its decoded size cannot exceed the limit."""
    mime = None
    if value.startswith("data:") and "," in value:
        header, value = value.split(",", 1)
        mime = header[5:].split(";")[0] or None
    # Every 4 characters carry 3 bytes; whitespace only makes this estimate larger, never smaller.
    if (len(value) // 4) * 3 > max_bytes + 3:
        raise MediaTooLarge(max_bytes)
    try:
        data = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise DownloadError("inline media is not valid base64") from None
    if len(data) > max_bytes:
        raise MediaTooLarge(max_bytes)
    return Blob(data, mime)
