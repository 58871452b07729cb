"""Configuration from the environment: accepted forms, and refusals that name the variable."""

from __future__ import annotations

import pytest

from sdr.settings import ConfigError, load_settings, normalize_database_url


def env(base_env, **changes: str) -> dict[str, str]:
    merged = {**base_env, **changes}
    return {k: v for k, v in merged.items() if v is not None}


def refused(base_env, **changes) -> str:
    with pytest.raises(ConfigError) as raised:
        load_settings(env(base_env, **changes))
    return str(raised.value)


def test_the_test_environment_loads(base_env):
    settings = load_settings(base_env)
    assert settings.buffer_quiet_seconds == 0.6 and settings.buffer_max_seconds == 3.0
    assert settings.evolution is not None and settings.evolution.instance == "sdr-test"
    assert settings.broker_url == settings.redis_url  # the broker defaults to REDIS_URL


def test_broker_can_be_set_separately(base_env):
    assert load_settings(env(base_env, CELERY_BROKER_URL="redis://127.0.0.1:6379/9")).broker_url.endswith("/9")


@pytest.mark.parametrize("url", ["postgres://u:p@db.example:5432/sdr", "postgresql://u:p@db.example:5432/sdr"])
def test_common_database_url_forms_work_as_given(base_env, url):
    settings = load_settings(env(base_env, DATABASE_URL=url))
    assert settings.database_url == "postgresql+psycopg://u:p@db.example:5432/sdr"


def test_other_database_schemes_are_refused():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        normalize_database_url("mysql://u@h/db")


@pytest.mark.parametrize("changes, variable", [
    ({"SDR_BUFFER_QUIET_SECONDS": "5", "SDR_BUFFER_MAX_SECONDS": "2"}, "SDR_BUFFER_MAX_SECONDS"),
    ({"SDR_LLM_TIMEOUT_SECONDS": "25"}, "SDR_LLM_TIMEOUT_SECONDS"),
    ({"SDR_TURN_LOCK_SECONDS": "15"}, "SDR_TURN_LOCK_SECONDS"),
    ({"SDR_VISIBILITY_TIMEOUT": "10"}, "SDR_VISIBILITY_TIMEOUT"),
    ({"SDR_SEND_RETRY_BACKOFF_MAX": "200"}, "SDR_VISIBILITY_TIMEOUT"),
    ({"SDR_PROVIDER_READ_TIMEOUT": "30"}, "SDR_PROVIDER_READ_TIMEOUT"),
    ({"SDR_PROVIDER_CONNECT_TIMEOUT": "30"}, "SDR_PROVIDER_CONNECT_TIMEOUT"),
])
def test_inconsistent_timing_is_refused_naming_the_variable(base_env, changes, variable):
    assert variable in refused(base_env, **changes)


@pytest.mark.parametrize("name, value", [
    ("SDR_BUFFER_QUIET_SECONDS", "soon"),
    ("SDR_HUMAN_PAUSE_MINUTES", "-1"),
    ("SDR_SEND_RETRY_MAX", "2.5"),
    ("SDR_STEP_TIME_LIMIT", "0"),
    ("SDR_MEDIA_MAX_BYTES", "16MB"),
    ("SDR_MEDIA_MAX_BYTES", "100"),
    ("SDR_MEDIA_TEXT_LIMIT", "10"),
    ("SDR_MEDIA_MAX_WAIT_SECONDS", "-5"),
    ("SDR_MEDIA_PDF_PAGES", "0"),
])
def test_bad_numbers_are_refused_naming_the_variable(base_env, name, value):
    assert name in refused(base_env, **{name: value})


def test_partial_evolution_config_names_what_is_missing(base_env):
    message = refused(base_env, EVOLUTION_API_KEY="", EVOLUTION_WEBHOOK_SECRET="")
    assert "EVOLUTION_API_KEY" in message and "EVOLUTION_WEBHOOK_SECRET" in message
    assert "EVOLUTION_API_URL" not in message and "EVOLUTION_INSTANCE" not in message


def test_no_evolution_config_means_no_evolution_chip(base_env):
    bare = {k: v for k, v in base_env.items() if not k.startswith("EVOLUTION_")}
    assert load_settings(bare).evolution is None


def test_evolution_url_trailing_slash_is_dropped(base_env):
    settings = load_settings(env(base_env, EVOLUTION_API_URL="http://evo.example:8080/"))
    assert settings.evolution.api_url == "http://evo.example:8080"


def test_stand_in_llm_is_detected(base_env):
    assert load_settings(base_env).stand_in_llm is True
    assert load_settings(env(base_env, OPENAI_API_KEY="sk-real-looking-key")).stand_in_llm is False


ZAPI = {"ZAPI_INSTANCE_ID": "3E4F7360", "ZAPI_TOKEN": "tok", "ZAPI_WEBHOOK_SECRET": "s"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC123", "TWILIO_AUTH_TOKEN": "t", "TWILIO_WHATSAPP_FROM": "whatsapp:+14155238886"}


def test_zapi_and_twilio_configs(base_env):
    bare = {k: v for k, v in base_env.items() if not k.startswith(("ZAPI_", "TWILIO_"))}
    settings = load_settings({**bare, **ZAPI, **TWILIO})
    assert settings.zapi.base_url == "https://api.z-api.io" and settings.zapi.client_token == ""
    assert settings.twilio.whatsapp_from == "+14155238886" and settings.twilio.api_url == "https://api.twilio.com"
    assert settings.twilio.status_callback_url is None and settings.trust_forwarded is False
    none = load_settings(bare)
    assert none.zapi is None and none.twilio is None


@pytest.mark.parametrize("changes, named", [
    ({**ZAPI, "ZAPI_TOKEN": None}, "ZAPI_TOKEN"),
    ({"ZAPI_CLIENT_TOKEN": "x"}, "ZAPI_INSTANCE_ID"),
    ({**ZAPI, "ZAPI_BASE_URL": "api.z-api.io"}, "ZAPI_BASE_URL"),
    ({**TWILIO, "TWILIO_WHATSAPP_FROM": "+55 11"}, "TWILIO_WHATSAPP_FROM"),
    ({**TWILIO, "TWILIO_ACCOUNT_SID": "XY1"}, "TWILIO_ACCOUNT_SID"),
    ({**TWILIO, "TWILIO_AUTH_TOKEN": None}, "TWILIO_AUTH_TOKEN"),
    ({"SDR_TRUST_FORWARDED": "maybe"}, "SDR_TRUST_FORWARDED"),
])
def test_bad_provider_configs_name_the_variable(base_env, changes, named):
    bare = {k: v for k, v in base_env.items() if not k.startswith(("ZAPI_", "TWILIO_"))}
    assert named in refused(bare, **changes)


def test_media_defaults_and_overrides(base_env):
    media = load_settings(base_env).media
    assert (media.max_bytes, media.transcription_model, media.transcription_language) == (16 * 1024 * 1024,
                                                                                          "whisper-1", "pt")
    changed = load_settings({**base_env, "SDR_MEDIA_MAX_BYTES": "1048576", "SDR_VISION_MODEL": "gpt-4.1-mini",
                             "META_API_VERSION": "v22.0"}).media
    assert (changed.max_bytes, changed.vision_model, changed.meta_graph_version) == (1048576, "gpt-4.1-mini",
                                                                                     "v22.0")
    assert changed.meta_graph_url == "https://graph.facebook.com"
