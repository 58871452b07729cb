"""X-Hub-Signature-256: the reference notes' official-body vector, the sanity vector, and near misses."""

from __future__ import annotations

import pytest

from sdr.meta_signature import sign_body, signature_matches
from tests.meta_factories import VECTOR_BODY, VECTOR_SECRET, VECTOR_SIGNATURE


def test_the_worked_example_over_the_official_text_body_validates():
    assert len(VECTOR_BODY) == 499
    assert sign_body(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE
    assert signature_matches(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)
    assert signature_matches(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE.upper().replace("SHA256=", "sha256="))


def test_the_third_party_sanity_vector():
    expected = "sha256=0329a06b62cd16b33eb6792be8c60b158d89a2ee3a876fce9a881ebb488c0914"
    assert sign_body("secret", b"test") == expected and signature_matches("secret", b"test", expected)


@pytest.mark.parametrize("secret, body, header", [
    (VECTOR_SECRET, VECTOR_BODY + b"\n", VECTOR_SIGNATURE),  # one byte more: a re-serialized body fails
    ("another_secret", VECTOR_BODY, VECTOR_SIGNATURE),
    (VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE[len("sha256="):]),  # without the prefix
    (VECTOR_SECRET, VECTOR_BODY, "sha1=" + VECTOR_SIGNATURE[len("sha256="):]),
    (VECTOR_SECRET, VECTOR_BODY, ""),
    (VECTOR_SECRET, VECTOR_BODY, None),
    ("", VECTOR_BODY, sign_body("", VECTOR_BODY)),  # no secret configured never validates
    (VECTOR_SECRET, VECTOR_BODY, "sha256=ñão-ascii"),
])
def test_near_misses_fail(secret, body, header):
    assert not signature_matches(secret, body, header)
