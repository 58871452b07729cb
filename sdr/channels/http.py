"""Outbound HTTP to providers: one pooled session per process and one error classification.

Classification decides retries, so it is the heart of "never twice, never lost":
- the request never reached the provider (DNS, refused, connect timeout): transient, retried;
- the provider answered 429 (or a provider-specific rate-limit code): it did not take the message,
  retried later with jitter (`RateLimitedSendError`, honouring Retry-After);
- the provider answered 5xx: it did not take the message, transient, retried;
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
from sdr.channels.base import PermanentSendError, RateLimitedSendError, SendError, TransientSendError

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
    return _answer(_post(url, timeout, json=body, headers=headers))


def post_form(
    url: str, fields: list[tuple[str, str]], auth: tuple[str, str], timeout: tuple[float, float],
    rate_limit_codes: frozenset[int] | set[int] = frozenset(),
) -> dict[str, Any]:
    """POST a form with basic auth (Twilio); an error body whose `code` is in `rate_limit_codes`
    is a rate limit whatever the HTTP status."""
    response = _post(url, timeout, data=fields, auth=auth)
    if response.status_code >= 400 and _error_code(response) in rate_limit_codes:
        raise RateLimitedSendError(_describe(response), status=response.status_code,
                                   retry_after=_retry_after(response))
    return _answer(response)


def _post(url: str, timeout: tuple[float, float], **kwargs: Any) -> requests.Response:
    try:
        return get_session().post(url, timeout=timeout, **kwargs)
    except requests.ConnectionError as exc:  # includes ConnectTimeout
        raise TransientSendError(f"provider unreachable: {type(exc).__name__}") from None
    except requests.ReadTimeout:
        raise AmbiguousSendError("provider did not answer in time; delivery unknown") from None


def _answer(response: requests.Response) -> dict[str, Any]:
    if response.status_code == 429:
        raise RateLimitedSendError(_describe(response), status=429, retry_after=_retry_after(response))
    if response.status_code >= 500:
        raise TransientSendError(_describe(response), status=response.status_code)
    if response.status_code >= 400:
        raise PermanentSendError(_describe(response), status=response.status_code)
    try:
        payload = response.json()
    except ValueError:
        raise AmbiguousSendError(f"provider answered {response.status_code} without JSON") from None
    return payload if isinstance(payload, dict) else {"data": payload}


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a numeric Retry-After header (the HTTP-date form is rare from these APIs)."""
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _error_code(response: requests.Response) -> int | None:
    try:
        code = response.json().get("code")
        return int(code) if code is not None else None
    except (ValueError, AttributeError, TypeError):
        return None


def _describe(response: requests.Response) -> str:
    return f"HTTP {response.status_code}: {scrub(response.text[:300])}"
