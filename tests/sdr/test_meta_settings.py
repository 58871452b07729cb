"""Meta's settings: all-or-nothing, validated, and chip secrets only from SDR_CHIP_SECRET_* variables."""

from __future__ import annotations

import pytest

from sdr.settings import ConfigError, load_settings
from tests.meta_factories import meta_env


def test_meta_is_configured_with_defaults(base_env):
    meta = load_settings({**base_env, **meta_env("http://graph.local/")}).meta
    assert meta is not None and meta.graph_url == "http://graph.local"
    assert (meta.api_version, meta.template_name, meta.template_language) == ("v21.0", "retomar_conversa", "pt_BR")
    assert load_settings(base_env).meta is None


@pytest.mark.parametrize("changes, named", [
    ({"META_APP_SECRET": ""}, "META_APP_SECRET"),
    ({"META_API_VERSION": "21"}, "META_API_VERSION"),
    ({"META_PHONE_NUMBER_ID": "+5511"}, "META_PHONE_NUMBER_ID"),
    ({"SDR_META_TEMPLATE_LANGUAGE": "portuguese"}, "SDR_META_TEMPLATE_LANGUAGE"),
])
def test_bad_meta_settings_name_the_variable(base_env, changes, named):
    with pytest.raises(ConfigError, match=named):
        load_settings({**base_env, **meta_env("http://graph.local"), **changes})


def test_chip_secrets_come_only_from_their_prefix(base_env):
    settings = load_settings({**base_env, "SDR_CHIP_SECRET_VENDAS2": "tok-2"})
    assert settings.chip_secret("SDR_CHIP_SECRET_VENDAS2") == "tok-2"
    for ref in ("SDR_CHIP_SECRET_MISSING", "DATABASE_URL", "OPENAI_API_KEY"):
        with pytest.raises(ConfigError, match="SDR_CHIP_SECRET_"):
            settings.chip_secret(ref)
