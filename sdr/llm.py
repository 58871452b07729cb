"""Calls to an OpenAI-compatible chat endpoint, with timeouts, usage and classified errors.

One client per process (its connection pool is shared by every concurrent turn). The SDK's
own retries are off: a task decides whether to retry, so a call is never repeated unseen.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import openai

from sdr.settings import ConfigError, Settings

_lock = threading.Lock()
_client: openai.OpenAI | None = None
_client_pid: int | None = None

TRANSIENT = (openai.APITimeoutError, openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)


class LLMError(Exception):
    """The model call failed for good (bad request, auth, unusable answer)."""


class LLMTransientError(LLMError):
    """The model call failed in a way worth retrying (timeout, connection, 429, 5xx)."""


@dataclass(frozen=True)
class Completion:
    content: str
    elapsed_ms: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0


def check_llm_configured(settings: Settings) -> None:
    """Processes that call the model refuse to start without any endpoint to call."""
    if not settings.openai_api_key and not settings.openai_base_url:
        raise ConfigError("set OPENAI_API_KEY, or OPENAI_BASE_URL for a local OpenAI-compatible server")


def describe_llm(settings: Settings) -> str:
    """One line for start-up logs and pages: which model endpoint answers, and whether it is real."""
    endpoint = settings.openai_base_url or "https://api.openai.com/v1"
    if settings.stand_in_llm:
        return (f"no OPENAI_API_KEY: replies come from the local LLM stand-in at {endpoint}, "
                "not from a real model")
    return f"LLM endpoint {endpoint} (analysis model {settings.analysis_model}, reply model {settings.reply_model})"


def get_client(settings: Settings) -> openai.OpenAI:
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = openai.OpenAI(
                api_key=settings.openai_api_key or "stand-in",
                base_url=settings.openai_base_url,
                timeout=openai.Timeout(settings.llm_timeout_seconds, connect=5.0),
                max_retries=0,
            )
            _client_pid = os.getpid()
        return _client


def complete(
    client: openai.OpenAI,
    model: str,
    messages: list[dict[str, Any]],
    response_format: dict[str, Any] | None = None,
) -> Completion:
    """One chat completion; raises `LLMTransientError` or `LLMError` on failure."""
    options: dict[str, Any] = {"model": model, "messages": messages}
    if response_format is not None:
        options["response_format"] = response_format
    started = time.monotonic()
    try:
        response = client.chat.completions.create(**options)
    except TRANSIENT as exc:
        raise LLMTransientError(f"{type(exc).__name__}: {_brief(exc)}") from None
    except openai.OpenAIError as exc:
        raise LLMError(f"{type(exc).__name__}: {_brief(exc)}") from None
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if not response.choices:
        raise LLMTransientError("the model returned no choices")
    usage = response.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return Completion(
        content=response.choices[0].message.content or "",
        elapsed_ms=elapsed_ms,
        prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
        completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        cached_tokens=getattr(details, "cached_tokens", 0) or 0,
    )


def _brief(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else "no detail"
