"""I7: secrets and full phone numbers never reach the logs, whatever logs them."""

from __future__ import annotations

import logging

import pytest

from sdr.logs import RedactingFilter, install_redaction, secrets_of
from sdr.pipeline import ingest_step
from tests.conftest import SECRETS
from tests.factories import evolution_upsert, phone, receive, run_turn

FULL_PHONE = phone(7)  # +5511900000007
DIGITS = FULL_PHONE.lstrip("+")


def record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("sdr.test", logging.WARNING, __file__, 1, message, args, exc_info)


def rendered(filter_: RedactingFilter, rec: logging.LogRecord) -> str:
    filter_.filter(rec)
    return logging.Formatter("%(message)s").format(rec)


def test_phone_numbers_in_messages_and_arguments_are_masked():
    redact = RedactingFilter([])
    line = rendered(redact, record("reply to %s failed (%s)", FULL_PHONE, f"{DIGITS}@s.whatsapp.net"))
    assert DIGITS not in line and FULL_PHONE not in line
    assert "0007" in line  # still enough to correlate


def test_secret_values_are_replaced():
    redact = RedactingFilter(["sk-live-abcdef123456", "short"])
    line = rendered(redact, record("calling with key %s and short", "sk-live-abcdef123456"))
    assert "sk-live-abcdef123456" not in line and "[redacted]" in line
    assert "short" in line  # too short to be a secret worth masking


def test_exception_text_is_scrubbed():
    redact = RedactingFilter(["sk-live-abcdef123456"])
    try:
        raise RuntimeError(f"provider refused {DIGITS} with key sk-live-abcdef123456")
    except RuntimeError as exc:
        line = rendered(redact, record("send failed", exc=exc))
    assert "send failed" in line and "RuntimeError" in line
    assert DIGITS not in line
    assert "sk-live-abcdef123456" not in line


def test_secrets_of_covers_every_configured_secret(settings):
    found = secrets_of(settings)
    for value in (*SECRETS.values(), settings.evolution.api_key, settings.zapi.token, settings.zapi.client_token,
                  settings.twilio.auth_token):
        assert value in found


def test_the_stand_in_placeholder_key_is_not_treated_as_a_secret(settings):
    from dataclasses import replace

    assert "stand-in" not in secrets_of(replace(settings, openai_api_key="stand-in"))
    assert "sk-real-key-123456" in secrets_of(replace(settings, openai_api_key="sk-real-key-123456"))


def test_install_redaction_filters_every_handler_once(settings):
    logger = logging.getLogger("sdr.test.install")
    handler = logging.StreamHandler()
    logger.addHandler(handler)
    try:
        install_redaction(settings, logger)
        install_redaction(settings, logger)
        assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, rec: logging.LogRecord) -> None:
        self.lines.append(self.format(rec))


@pytest.fixture()
def root_lines(settings):
    """Every line logged anywhere during the test, formatted as the root logger's handlers would."""
    root = logging.getLogger()
    handler = Collect()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    install_redaction(settings, root)
    yield handler.lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def assert_clean(lines: list[str], settings) -> None:
    assert lines, "expected something to be logged"
    text = "\n".join(lines)
    assert DIGITS not in text
    for secret in secrets_of(settings):
        if secret and len(secret) >= 6:
            assert secret not in text


def test_a_turn_and_its_failures_log_no_phone_or_secret(rt, llm, evolution, root_lines):
    received = receive(rt, FULL_PHONE, "Oi, meu número é " + DIGITS)
    run_turn(rt, received.conversation_id)  # logs the reply, with the lead's address
    evolution.configure(not_on_whatsapp=[FULL_PHONE])
    llm.configure(fail_next=[500], kind="analysis")
    again = receive(rt, FULL_PHONE, "Alô?")
    run_turn(rt, again.conversation_id)  # analysis fallback + refused send are logged
    ingest_step(rt, receive(rt, FULL_PHONE, "Oi", channel_ref="unknown-chip").message_ids[0])
    assert any("failed to send" in line for line in root_lines)
    assert_clean(root_lines, rt.settings)


def test_webhook_calls_log_no_phone_or_secret(rt, root_lines):
    from web import create_app

    client = create_app(rt.settings).test_client()
    secret = rt.settings.evolution.webhook_secret
    client.post("/webhooks/evolution", json=evolution_upsert(FULL_PHONE, "Oi"), query_string={"secret": secret})
    client.post("/webhooks/evolution", json={"event": "messages.upsert", "instance": "sdr-test",
                                             "data": {"key": {"remoteJid": f"{DIGITS}@bad", "id": "x"}}},
                headers={"X-Webhook-Secret": secret})
    client.post("/webhooks/evolution", json=evolution_upsert(FULL_PHONE, "Oi"), headers={"X-Webhook-Secret": "nope"})
    client.get("/sandbox/messages", query_string={"secret": rt.settings.sandbox_secret, "phone": FULL_PHONE})
    client.post("/api/conversations/1/resume", headers={"Authorization": f"Bearer {rt.settings.admin_token}"})
    logging.getLogger("sdr.test").warning("startup check %s %s", rt.settings.openai_api_key, secret)
    assert_clean(root_lines, rt.settings)
