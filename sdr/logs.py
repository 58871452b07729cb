"""Logging set-up that keeps secrets and full phone numbers out of every log line."""

from __future__ import annotations

import logging

from sdr.addresses import scrub
from sdr.settings import Settings


class RedactingFilter(logging.Filter):
    """Masks phone-like digit runs and known secret values in the final message text."""

    def __init__(self, secrets: list[str]):
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 6]

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def secrets_of(settings: Settings) -> list[str]:
    # The stand-in's placeholder key is no secret; masking it would garble "stand-in" in every notice.
    key = "" if settings.stand_in_llm else settings.openai_api_key
    values = [key, settings.admin_token, settings.sandbox_secret, settings.flower_basic_auth]
    if settings.evolution:
        values += [settings.evolution.api_key, settings.evolution.webhook_secret]
    if settings.zapi:
        values += [settings.zapi.token, settings.zapi.client_token, settings.zapi.webhook_secret]
    if settings.twilio:
        values += [settings.twilio.auth_token]
    return [v for v in values if v]


def install_redaction(settings: Settings, logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    redactor = RedactingFilter(secrets_of(settings))
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(redactor)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction(settings)
