"""Outbound HTTP to providers: one pooled session per process and one error classification.

Classification decides retries, so it is the heart of "never twice, never lost":
- the request never reached the provider (DNS, refused, connect timeout): transient, retried;
- the provider answered 429 or 5xx: it did not take the message, transient, retried;
- the provider answered another 4xx: permanent, recorded, not retried;
- the provider went silent after receiving the request (read timeout): the message may have
  been delivered, so it is *not* resent automatically (`AmbiguousSendError`).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from sdr.addresses import scrub
from sdr.channels.base import PermanentSendError, SendError, TransientSendError

_local = threading.Lock()
_session: requests.Session | None = None
_session_pid: int | None = None


class AmbiguousSendError(SendError):
    """The provider may or may not have accepted the message."""

    transient = False


def get_session() -> requests.Session:
    """The process's pooled session (recreated after fork)."""
    global _session, _session_pid
    with _local:
        if _session is None or _session_pid != os.getpid():
            session = requests.Session()
            # Retries are decided by the outbox, never silently by urllib3.
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=256, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            _session, _session_pid = session, os.getpid()
        return _session


def post_json(
    url: str, body: dict[str, Any], headers: dict[str, str], timeout: tuple[float, float]
) -> dict[str, Any]:
    """POST JSON and return the JSON answer, raising a classified `SendError` otherwise."""
    try:
        response = get_session().post(url, json=body, headers=headers, timeout=timeout)
    except requests.ConnectionError as exc:  # includes ConnectTimeout
        raise TransientSendError(f"provider unreachable: {type(exc).__name__}") from None
    except requests.ReadTimeout:
        raise AmbiguousSendError("provider did not answer in time; delivery unknown") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientSendError(_describe(response), status=response.status_code)
    if response.status_code >= 400:
        raise PermanentSendError(_describe(response), status=response.status_code)
    try:
        payload = response.json()
    except ValueError:
        raise AmbiguousSendError(f"provider answered {response.status_code} without JSON") from None
    return payload if isinstance(payload, dict) else {"data": payload}


def _describe(response: requests.Response) -> str:
    return f"HTTP {response.status_code}: {scrub(response.text[:300])}"
