"""Process configuration: every environment variable sdr reads is read here, once.

Other modules receive a `Settings` (usually through `get_settings()`); nothing else touches
`os.environ`. Invalid values fail at start-up with a message naming the variable.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PLAYBOOK = REPO_ROOT / "playbooks" / "solar.yaml"
CHIP_SECRET_PREFIX = "SDR_CHIP_SECRET_"
META_API_VERSION = re.compile(r"^v\d+\.\d+$")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class EvolutionConfig:
    api_url: str
    api_key: str
    instance: str
    webhook_secret: str


@dataclass(frozen=True)
class ZapiConfig:
    base_url: str
    instance_id: str
    token: str
    client_token: str  # the account security token; empty when the account has none activated
    webhook_secret: str


@dataclass(frozen=True)
class TwilioConfig:
    api_url: str
    account_sid: str
    auth_token: str
    whatsapp_from: str  # E.164, our WhatsApp sender
    status_callback_url: str | None  # where Twilio posts delivery statuses (our /webhooks/twilio)


@dataclass(frozen=True)
class MetaConfig:
    """Meta WhatsApp Cloud API. The access token here serves the environment's chip and every chip
    without a credentials reference of its own."""

    graph_url: str
    api_version: str
    access_token: str
    app_secret: str
    verify_token: str
    phone_number_id: str
    template_name: str | None  # sent instead of free text outside the 24-hour window
    template_language: str


@dataclass(frozen=True)
class MediaConfig:
    """Limits and models for turning leads' audio, images and documents into text (sdr.media)."""

    max_bytes: int  # SDR_MEDIA_MAX_BYTES: larger files are refused before their body is read
    max_wait_seconds: float  # SDR_MEDIA_MAX_WAIT_SECONDS: a turn waits this long for its media at most
    download_seconds: float  # SDR_MEDIA_DOWNLOAD_SECONDS: whole-download deadline (slow senders are cut)
    text_limit: int  # SDR_MEDIA_TEXT_LIMIT: characters of a transcript/description/document kept
    pdf_pages: int  # SDR_MEDIA_PDF_PAGES: pages of a PDF read at most
    transcription_model: str  # SDR_TRANSCRIPTION_MODEL
    transcription_language: str  # SDR_TRANSCRIPTION_LANGUAGE (ISO-639-1 hint)
    vision_model: str  # SDR_VISION_MODEL
    # Meta Graph media lookups, used when the Meta channel's own settings are not present.
    meta_graph_url: str  # META_GRAPH_URL
    meta_graph_version: str  # META_API_VERSION
    meta_access_token: str  # META_ACCESS_TOKEN


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
    meta: MetaConfig | None
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
    media: MediaConfig
    extra: Mapping[str, str] = field(default_factory=dict)
    zapi: ZapiConfig | None = None
    twilio: TwilioConfig | None = None
    # Trust X-Forwarded-Proto/Host from a reverse proxy when rebuilding the URL a provider signed.
    trust_forwarded: bool = False
    # Secrets a chip row may name in `credentials_ref` (only variables with CHIP_SECRET_PREFIX).
    chip_secrets: Mapping[str, str] = field(default_factory=dict)

    # memory and knowledge
    knowledge_hits: int = 3
    history_messages: int = 20
    summary_after_messages: int = 30
    summary_model: str = "gpt-4o-mini"

    def chip_secret(self, ref: str) -> str:
        """The secret a chip's credentials reference names; ConfigError if it is not set."""
        if not ref.startswith(CHIP_SECRET_PREFIX) or not self.chip_secrets.get(ref):
            raise ConfigError(f"chip credentials {ref!r}: set the environment variable {ref} "
                              f"(names must start with {CHIP_SECRET_PREFIX})")
        return self.chip_secrets[ref]

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


def _configured(env: Mapping[str, str], provider: str, required: tuple[str, ...],
                optional: tuple[str, ...]) -> bool:
    """True when every required variable is set, False when none of them (nor an optional one) is."""
    present = [n for n in required + optional if env.get(n)]
    if not present:
        return False
    missing = [n for n in required if not env.get(n)]
    if missing:
        raise ConfigError(f"{provider} is partly configured; missing {', '.join(missing)}")
    return True


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http:// or https:// URL, got {value!r}")
    return value


def _zapi(env: Mapping[str, str]) -> ZapiConfig | None:
    required = ("ZAPI_INSTANCE_ID", "ZAPI_TOKEN", "ZAPI_WEBHOOK_SECRET")
    if not _configured(env, "Z-API", required, ("ZAPI_CLIENT_TOKEN",)):
        return None
    return ZapiConfig(base_url=_url(env, "ZAPI_BASE_URL", "https://api.z-api.io"),
                      instance_id=env["ZAPI_INSTANCE_ID"], token=env["ZAPI_TOKEN"],
                      client_token=env.get("ZAPI_CLIENT_TOKEN", ""), webhook_secret=env["ZAPI_WEBHOOK_SECRET"])


def _twilio(env: Mapping[str, str]) -> TwilioConfig | None:
    required = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_WHATSAPP_FROM")
    if not _configured(env, "Twilio", required, ("TWILIO_STATUS_CALLBACK_URL",)):
        return None
    sender = env["TWILIO_WHATSAPP_FROM"].removeprefix("whatsapp:")
    if not sender.startswith("+") or not sender[1:].isdigit() or not 8 <= len(sender) - 1 <= 15:
        raise ConfigError(f"TWILIO_WHATSAPP_FROM must be an E.164 number like whatsapp:+14155238886, got {sender!r}")
    if not env["TWILIO_ACCOUNT_SID"].startswith("AC"):
        raise ConfigError("TWILIO_ACCOUNT_SID must start with 'AC'")
    callback = env.get("TWILIO_STATUS_CALLBACK_URL") or None
    if callback is not None:
        callback = _url(env, "TWILIO_STATUS_CALLBACK_URL", "")
    return TwilioConfig(api_url=_url(env, "TWILIO_API_URL", "https://api.twilio.com"),
                        account_sid=env["TWILIO_ACCOUNT_SID"], auth_token=env["TWILIO_AUTH_TOKEN"],
                        whatsapp_from=sender, status_callback_url=callback)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
def _meta(env: Mapping[str, str]) -> MetaConfig | None:
    names = ("META_GRAPH_URL", "META_ACCESS_TOKEN", "META_APP_SECRET", "META_VERIFY_TOKEN", "META_PHONE_NUMBER_ID")
    present = [n for n in names if env.get(n)]
    if not present:
        return None
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise ConfigError(f"Meta Cloud API is partly configured; missing {', '.join(missing)}")
    version = env.get("META_API_VERSION") or "v21.0"
    if not META_API_VERSION.match(version):
        raise ConfigError(f"META_API_VERSION must look like v21.0, got {version!r}")
    if not env["META_PHONE_NUMBER_ID"].isdigit():
        raise ConfigError("META_PHONE_NUMBER_ID must be the numeric phone number id from the Meta dashboard")
    language = env.get("SDR_META_TEMPLATE_LANGUAGE") or "pt_BR"
    if not re.match(r"^[a-z]{2,3}(_[A-Z]{2})?$", language):
        raise ConfigError(f"SDR_META_TEMPLATE_LANGUAGE must be a template language code like pt_BR, got {language!r}")
    return MetaConfig(
        graph_url=env["META_GRAPH_URL"].rstrip("/"),
        api_version=version,
        access_token=env["META_ACCESS_TOKEN"],
        app_secret=env["META_APP_SECRET"],
        verify_token=env["META_VERIFY_TOKEN"],
        phone_number_id=env["META_PHONE_NUMBER_ID"],
        template_name=env.get("SDR_META_TEMPLATE_NAME") or None,
        template_language=language,
    )


def _media(env: Mapping[str, str]) -> MediaConfig:
    return MediaConfig(
        max_bytes=_int(env, "SDR_MEDIA_MAX_BYTES", 16 * 1024 * 1024, minimum=1024),
        max_wait_seconds=_float(env, "SDR_MEDIA_MAX_WAIT_SECONDS", 60.0),
        download_seconds=_float(env, "SDR_MEDIA_DOWNLOAD_SECONDS", 20.0, minimum=0.5),
        text_limit=_int(env, "SDR_MEDIA_TEXT_LIMIT", 4000, minimum=200),
        pdf_pages=_int(env, "SDR_MEDIA_PDF_PAGES", 30, minimum=1),
        transcription_model=env.get("SDR_TRANSCRIPTION_MODEL") or "whisper-1",
        transcription_language=env.get("SDR_TRANSCRIPTION_LANGUAGE") or "pt",
        vision_model=env.get("SDR_VISION_MODEL") or "gpt-4o-mini",
        meta_graph_url=(env.get("META_GRAPH_URL") or "https://graph.facebook.com").rstrip("/"),
        meta_graph_version=env.get("META_API_VERSION") or "v21.0",
        meta_access_token=env.get("META_ACCESS_TOKEN", ""),
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
        meta=_meta(env),
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
        zapi=_zapi(env),
        twilio=_twilio(env),
        trust_forwarded=_flag(env, "SDR_TRUST_FORWARDED"),
        chip_secrets={k: v for k, v in env.items() if k.startswith(CHIP_SECRET_PREFIX) and v},
        media=_media(env),
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


def media_time_limit(s: Settings) -> float:
    """Soft time limit of one media resolution: the provider lookup and the download have one deadline
    each, then one model call; the margin covers parsing and the database writes. It may exceed the
    broker's visibility timeout: a resolution redelivered while still running only repeats work,
    since the result is written once (sdr.media)."""
    return 2 * (s.provider_connect_timeout + s.media.download_seconds) + s.llm_timeout_seconds + 10


@functools.cache
def get_settings() -> Settings:
    return load_settings()
