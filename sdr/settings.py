"""Process configuration: every environment variable sdr reads is read here, once.

Other modules receive a `Settings` (usually through `get_settings()`); nothing else touches
`os.environ`. Invalid values fail at start-up with a message naming the variable.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAYBOOK = REPO_ROOT / "playbooks" / "solar.yaml"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class EvolutionConfig:
    api_url: str
    api_key: str
    instance: str
    webhook_secret: str


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str
    broker_url: str
    openai_api_key: str
    openai_base_url: str | None
    analysis_model: str
    reply_model: str
    playbook_path: Path
    buffer_quiet_seconds: float
    buffer_max_seconds: float
    human_pause_minutes: float
    admin_token: str
    sandbox_secret: str
    flower_basic_auth: str
    evolution: EvolutionConfig | None
    llm_timeout_seconds: float
    provider_connect_timeout: float
    provider_read_timeout: float
    turn_lock_seconds: float
    step_time_limit: float
    send_retry_max: int
    send_retry_backoff_max: float
    visibility_timeout: float
    supersede_limit_seconds: float
    sweep_interval_seconds: float
    sweep_grace_seconds: float
    decay_interval_seconds: float
    log_level: str
    extra: Mapping[str, str] = field(default_factory=dict)
    # memory and knowledge
    knowledge_hits: int = 3
    history_messages: int = 20
    summary_after_messages: int = 30
    summary_model: str = "gpt-4o-mini"

    @property
    def stand_in_llm(self) -> bool:
        """True when no real OpenAI key is configured and the local stand-in is in use."""
        return not self.openai_api_key or self.openai_api_key == "stand-in"


def _float(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = _float(env, name, default, minimum)
    if value != int(value):
        raise ConfigError(f"{name} must be a whole number, got {value}")
    return int(value)


def normalize_database_url(url: str) -> str:
    """Accept the common `postgres://` and `postgresql://` forms and select the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ConfigError(f"DATABASE_URL must be a postgres:// or postgresql:// URL, got scheme {url.split(':', 1)[0]!r}")


def _evolution(env: Mapping[str, str]) -> EvolutionConfig | None:
    names = ("EVOLUTION_API_URL", "EVOLUTION_API_KEY", "EVOLUTION_INSTANCE", "EVOLUTION_WEBHOOK_SECRET")
    present = [n for n in names if env.get(n)]
    if not present:
        return None
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ConfigError(f"Evolution API is partly configured; missing {', '.join(missing)}")
    return EvolutionConfig(
        api_url=env["EVOLUTION_API_URL"].rstrip("/"),
        api_key=env["EVOLUTION_API_KEY"],
        instance=env["EVOLUTION_INSTANCE"],
        webhook_secret=env["EVOLUTION_WEBHOOK_SECRET"],
    )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from an environment mapping (the process environment by default)."""
    env = os.environ if env is None else env
    redis_url = env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    settings = Settings(
        database_url=normalize_database_url(env.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/sdr"),
        redis_url=redis_url,
        broker_url=env.get("CELERY_BROKER_URL") or redis_url,
        openai_api_key=env.get("OPENAI_API_KEY", ""),
        openai_base_url=env.get("OPENAI_BASE_URL") or None,
        analysis_model=env.get("SDR_ANALYSIS_MODEL") or "gpt-4o-mini",
        reply_model=env.get("SDR_REPLY_MODEL") or "gpt-4o-mini",
        playbook_path=Path(env.get("SDR_PLAYBOOK") or DEFAULT_PLAYBOOK),
        buffer_quiet_seconds=_float(env, "SDR_BUFFER_QUIET_SECONDS", 2.0),
        buffer_max_seconds=_float(env, "SDR_BUFFER_MAX_SECONDS", 8.0),
        human_pause_minutes=_float(env, "SDR_HUMAN_PAUSE_MINUTES", 30.0),
        admin_token=env.get("SDR_ADMIN_TOKEN", ""),
        sandbox_secret=env.get("SDR_SANDBOX_SECRET", ""),
        flower_basic_auth=env.get("FLOWER_BASIC_AUTH", ""),
        evolution=_evolution(env),
        llm_timeout_seconds=_float(env, "SDR_LLM_TIMEOUT_SECONDS", 45.0, minimum=0.1),
        provider_connect_timeout=_float(env, "SDR_PROVIDER_CONNECT_TIMEOUT", 3.0, minimum=0.1),
        provider_read_timeout=_float(env, "SDR_PROVIDER_READ_TIMEOUT", 15.0, minimum=0.1),
        turn_lock_seconds=_float(env, "SDR_TURN_LOCK_SECONDS", 90.0, minimum=1.0),
        step_time_limit=_float(env, "SDR_STEP_TIME_LIMIT", 60.0, minimum=1.0),
        send_retry_max=_int(env, "SDR_SEND_RETRY_MAX", 5),
        send_retry_backoff_max=_float(env, "SDR_SEND_RETRY_BACKOFF_MAX", 60.0, minimum=0.0),
        visibility_timeout=_float(env, "SDR_VISIBILITY_TIMEOUT", 300.0, minimum=1.0),
        supersede_limit_seconds=_float(env, "SDR_SUPERSEDE_LIMIT_SECONDS", 30.0),
        sweep_interval_seconds=_float(env, "SDR_SWEEP_INTERVAL_SECONDS", 15.0, minimum=0.5),
        sweep_grace_seconds=_float(env, "SDR_SWEEP_GRACE_SECONDS", 10.0, minimum=0.0),
        decay_interval_seconds=_float(env, "SDR_DECAY_INTERVAL_SECONDS", 3600.0, minimum=1.0),
        log_level=(env.get("SDR_LOG_LEVEL") or "INFO").upper(),
        knowledge_hits=_int(env, "SDR_KNOWLEDGE_HITS", 3),
        history_messages=_int(env, "SDR_HISTORY_MESSAGES", 20, minimum=2),
        summary_after_messages=_int(env, "SDR_SUMMARY_AFTER_MESSAGES", 30, minimum=2),
        summary_model=env.get("SDR_SUMMARY_MODEL") or env.get("SDR_ANALYSIS_MODEL") or "gpt-4o-mini",
    )
    check_consistency(settings)
    return settings


def check_consistency(s: Settings) -> None:
    """Reject timing values that would break the delivery guarantees (see docs/architecture.md)."""
    if s.buffer_max_seconds < s.buffer_quiet_seconds:
        raise ConfigError("SDR_BUFFER_MAX_SECONDS must be at least SDR_BUFFER_QUIET_SECONDS")
    if s.llm_timeout_seconds >= s.step_time_limit:
        raise ConfigError("SDR_LLM_TIMEOUT_SECONDS must be below SDR_STEP_TIME_LIMIT so a hung call fails cleanly")
    send_budget = s.provider_connect_timeout + s.provider_read_timeout
    if send_budget >= s.step_time_limit:
        raise ConfigError(
            "SDR_PROVIDER_CONNECT_TIMEOUT + SDR_PROVIDER_READ_TIMEOUT must be below SDR_STEP_TIME_LIMIT"
        )
    if s.summary_after_messages <= s.history_messages // 2:
        raise ConfigError("SDR_SUMMARY_AFTER_MESSAGES must exceed half of SDR_HISTORY_MESSAGES (the summary leaves "
                          "the newest half of the history window out, so a smaller value would summarize nothing)")
    if s.turn_lock_seconds <= s.step_time_limit:
        raise ConfigError("SDR_TURN_LOCK_SECONDS must exceed SDR_STEP_TIME_LIMIT (the lock is extended per step)")
    longest_hold = max(s.buffer_max_seconds, s.send_retry_backoff_max) + s.step_time_limit
    if s.visibility_timeout <= longest_hold:
        raise ConfigError(
            f"SDR_VISIBILITY_TIMEOUT must exceed the longest countdown plus SDR_STEP_TIME_LIMIT ({longest_hold:.0f}s), "
            "or delayed tasks would be redelivered while still waiting"
        )


@functools.cache
def get_settings() -> Settings:
    return load_settings()
