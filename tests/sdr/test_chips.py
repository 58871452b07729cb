"""Chips from the environment: the sandbox always, each provider when configured; registering is idempotent."""

from __future__ import annotations

import dataclasses

import pytest

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


# -- more chips: the database, the command line, and Meta's environment chip ------------------------------------

def test_meta_from_the_environment_gets_its_chip(clean, base_env):
    from sdr.settings import load_settings
    from tests.meta_factories import PHONE_NUMBER_ID, meta_env

    with session_scope(clean) as session:
        ensure_env_chips(session, load_settings({**base_env, **meta_env("http://graph.local")}))
        chips = rows(session, "SELECT provider, external_id FROM chips WHERE provider = 'meta'")
    assert [tuple(c) for c in chips] == [("meta", PHONE_NUMBER_ID)]


def test_a_chip_is_added_with_caps_and_a_credentials_reference(clean):
    from sdr.chips import NewChip, add_chip

    with session_scope(clean) as session:
        chip_id = add_chip(session, NewChip("meta", "555000111", phone="+55 11 3000-0001", name="Vendas 2",
                                            hourly_cap=30, daily_cap=200, credentials_ref="SDR_CHIP_SECRET_VENDAS2"))
        [chip] = rows(session, "SELECT * FROM chips WHERE id = :i", i=chip_id)
    assert (chip.provider, chip.external_id, chip.phone, chip.status) == ("meta", "555000111", "+551130000001",
                                                                           "active")
    assert (chip.hourly_cap, chip.daily_cap, chip.credentials_ref) == (30, 200, "SDR_CHIP_SECRET_VENDAS2")


@pytest.mark.parametrize("chip, says", [
    (dict(provider="telegram", external_id="1"), "provider"),
    (dict(provider="meta", external_id="vendas"), "numeric phone number id"),
    (dict(provider="meta", external_id="1", hourly_cap=-1), "hourly cap"),
    (dict(provider="meta", external_id="1", credentials_ref="EAAJB-a-real-token"), "SDR_CHIP_SECRET_"),
    (dict(provider="meta", external_id="1", credentials_ref="DATABASE_URL"), "SDR_CHIP_SECRET_"),
    (dict(provider="meta", external_id="1", phone="123"), "phone"),
    (dict(provider="evolution", external_id="sdr-test"), "already exists"),
])
def test_bad_chips_are_refused_with_the_reason_and_nothing_is_added(clean, chip, says):
    from sdr.chips import ChipError, NewChip, add_chip

    def chips() -> list[tuple]:
        with session_scope(clean) as session:
            return [tuple(c) for c in rows(session, "SELECT * FROM chips ORDER BY id")]

    before = chips()
    assert [c[2] for c in before][:2] == ["sandbox", "sdr-test"]  # external_id of the environment's chips
    with pytest.raises(ChipError, match=says), session_scope(clean) as session:
        add_chip(session, NewChip(**chip))
    assert chips() == before


def test_the_command_line_adds_and_lists_chips(clean, capsys):
    from sdr.cli import main

    code = main(["chips", "add", "meta", "555000111", "--phone", "+5511930000001", "--hourly-cap", "30",
                 "--daily-cap", "200", "--credentials", "SDR_CHIP_SECRET_VENDAS2"])
    out = capsys.readouterr().out
    assert code == 0 and "added: meta 555000111" in out and "set SDR_CHIP_SECRET_VENDAS2" in out
    assert main(["chips", "add", "meta", "555000111"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["chips", "list"]) == 0
    listing = capsys.readouterr().out
    assert "meta\t555000111\t+55*******0001\tactive\thourly=30\tdaily=200\tSDR_CHIP_SECRET_VENDAS2" in listing
    assert "5511930000001" not in listing  # full numbers stay out of terminals and logs
