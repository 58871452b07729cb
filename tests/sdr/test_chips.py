"""Chips from the environment: the sandbox always, each provider when configured; registering is idempotent."""

from __future__ import annotations

import dataclasses

from sqlalchemy import text

from sdr.chips import ensure_env_chips
from sdr.db import session_scope
from tests.factories import rows


def test_environment_chips_are_registered_once(clean):
    with session_scope(clean) as session:
        session.execute(text("TRUNCATE chips RESTART IDENTITY CASCADE"))
        added = ensure_env_chips(session, clean)
        again = ensure_env_chips(session, clean)
        chips = rows(session, "SELECT provider, external_id, status FROM chips ORDER BY id")
    assert [tuple(c) for c in chips] == [("sandbox", "sandbox", "active"), ("evolution", "sdr-test", "active"),
                                         ("zapi", clean.zapi.instance_id, "active"),
                                         ("twilio", "+14155238886", "active")]
    assert (added, again) == (4, 0)


def test_without_providers_only_the_sandbox_chip(clean):
    with session_scope(clean) as session:
        session.execute(text("TRUNCATE chips RESTART IDENTITY CASCADE"))
        ensure_env_chips(session, dataclasses.replace(clean, evolution=None, zapi=None, twilio=None))
        assert [c.provider for c in rows(session, "SELECT provider FROM chips")] == ["sandbox"]
