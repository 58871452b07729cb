"""Webhook authenticity: Twilio's official vectors and the WhatsApp worked example (reference B2)."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from sdr.signatures import secret_equal, twilio_signature, twilio_signature_valid, url_variants, \
    well_formed_twilio_signature
from tests.sdr.channels.test_twilio import TEXT

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
          ("From", "+14158675309"), ("To", "+18005551212")]


def test_official_vector():
    assert twilio_signature("12345", URL, PARAMS) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_official_vectors_with_default_ports():
    assert twilio_signature("12345", "https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS) == \
        "kvajT1Ptam85bY51eRf/AJRuM3w="
    assert twilio_signature("12345", "http://mycompany.com:80/myapp.php?foo=1&bar=2", PARAMS) == \
        "0ZXoZLH/DfblKGATFgpif+LLRf4="


def test_official_vector_with_repeated_names():
    params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]
    assert twilio_signature("12345", URL, params) == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_whatsapp_worked_example_keeps_empty_and_utf8_values():
    params = parse_qsl(TEXT, keep_blank_values=True)
    url = "https://example.com/webhooks/twilio/whatsapp"
    assert twilio_signature("test_auth_token", url, params) == "LYXpYzZRR8I4omPfxHs527nLSFU="
    assert twilio_signature("test_auth_token", "https://example.com:443/webhooks/twilio/whatsapp", params) == \
        "PlFMytEtAJBkoKdNGSU9tB5MPTg="


@pytest.mark.parametrize("signed_url, our_url", [
    ("https://mycompany.com/myapp.php?foo=1&bar=2", "https://mycompany.com:443/myapp.php?foo=1&bar=2"),
    ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "https://mycompany.com/myapp.php?foo=1&bar=2"),
    ("http://mycompany.com:80/myapp.php?foo=1&bar=2", "http://mycompany.com/myapp.php?foo=1&bar=2"),
])
def test_validation_accepts_the_url_with_or_without_the_default_port(signed_url, our_url):
    signature = twilio_signature("12345", signed_url, PARAMS)
    assert twilio_signature_valid("12345", our_url, PARAMS, signature)


@pytest.mark.parametrize("token, url, params, signature", [
    ("54321", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # other token
    ("12345", URL.replace("foo=1", "foo=2"), PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # other URL
    ("12345", "http://mycompany.com/myapp.php?foo=1&bar=2", PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # other scheme
    ("12345", URL, PARAMS[:-1], "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # a parameter dropped
    ("12345", URL, PARAMS + [("Body", "")], "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # an empty one added
    ("", URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),  # no token configured
    ("12345", URL, PARAMS, ""),
])
def test_validation_rejects_anything_else(token, url, params, signature):
    assert not twilio_signature_valid(token, url, params, signature)


def test_non_default_ports_are_kept():
    assert url_variants("https://h.example:8443/x") == ["https://h.example:8443/x"]


def test_signature_format():
    assert well_formed_twilio_signature("RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not well_formed_twilio_signature("not base64!")
    assert not well_formed_twilio_signature("c2hvcnQ=")  # valid base64, not 20 bytes


def test_shared_secret_comparison():
    assert secret_equal("s3cret", "s3cret")
    assert not secret_equal("s3cre", "s3cret") and not secret_equal(None, "s3cret")
    assert not secret_equal("", "")  # an unconfigured secret never matches
    assert secret_equal("çã", "çã")
