"""Lead engagement fades with a half-life from the playbook, in one UPDATE for all leads."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from sdr.accounting import counters
from sdr.temperature import decay_engagement
from tests.factories import phone, receive, rows


def leads(rt, *scores_and_ages: tuple[float, float]) -> None:
    """One lead per (engagement, hours since last decay)."""
    for n, (score, hours) in enumerate(scores_and_ages):
        receive(rt, phone(n), "Oi")
        with rt.sessions() as session:
            session.execute(text(
                "UPDATE leads SET engagement_score = :s, engagement_decayed_at = now() - make_interval(secs => :h * 3600)"
                ", fit_score = 0.7 WHERE address = :a"), {"s": score, "h": hours, "a": phone(n)})


def scores(rt) -> list[float]:
    with rt.sessions() as session:
        return [r.engagement_score for r in rows(session, "SELECT engagement_score FROM leads ORDER BY id")]


def test_engagement_halves_after_one_half_life_in_one_statement(rt):
    half_life = rt.playbook.engagement_half_life_hours
    leads(rt, (0.8, half_life), (0.8, 2 * half_life), (0.6, 0))
    before = counters.snapshot()
    with rt.sessions() as session:
        changed = decay_engagement(session, half_life)
    assert counters.since(before).sql == 1
    assert changed == 2  # the lead decayed just now is left alone
    assert scores(rt) == pytest.approx([0.4, 0.2, 0.6], abs=1e-3)


def test_decay_resets_the_clock_so_it_is_not_applied_twice(rt):
    half_life = rt.playbook.engagement_half_life_hours
    leads(rt, (0.8, half_life))
    with rt.sessions() as session:
        decay_engagement(session, half_life)
    with rt.sessions() as session:
        assert decay_engagement(session, half_life) == 0
    assert scores(rt) == pytest.approx([0.4], abs=1e-3)


def test_fit_does_not_decay_and_cold_leads_are_skipped(rt):
    leads(rt, (0.0, 500))
    with rt.sessions() as session:
        assert decay_engagement(session, rt.playbook.engagement_half_life_hours) == 0
        [lead] = rows(session, "SELECT fit_score, engagement_score FROM leads")
    assert (lead.fit_score, lead.engagement_score) == (0.7, 0.0)
