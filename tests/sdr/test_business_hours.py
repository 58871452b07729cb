"""Business hours: weekly intervals in the playbook's time zone, minus Brazilian holidays."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml

from sdr.agent.playbook import load_playbook, parse_playbook
from sdr.business_hours import brazilian_holidays, easter, is_business_time
from sdr.settings import REPO_ROOT

SOLAR = load_playbook(REPO_ROOT / "playbooks" / "solar.yaml")  # São Paulo, 08-12 and 13-18, Sat 09-13
STAFFING = load_playbook(REPO_ROOT / "playbooks" / "staffing.yaml")  # Recife, 07-19, Sat 08-12
SP = ZoneInfo("America/Sao_Paulo")


@pytest.mark.parametrize("year, sunday", [(2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)),
                                          (2026, date(2026, 4, 5)), (2027, date(2027, 3, 28)),
                                          (2038, date(2038, 4, 25))])
def test_easter(year, sunday):
    assert easter(year) == sunday


@pytest.mark.parametrize("day, name", [
    (date(2026, 1, 1), "Confraternização Universal"),
    (date(2026, 2, 16), "Carnaval (segunda-feira)"),
    (date(2026, 2, 17), "Carnaval (terça-feira)"),
    (date(2026, 4, 3), "Sexta-feira Santa"),
    (date(2026, 4, 21), "Tiradentes"),
    (date(2026, 6, 4), "Corpus Christi"),
    (date(2026, 11, 20), "Dia Nacional de Zumbi e da Consciência Negra"),
    (date(2027, 2, 8), "Carnaval (segunda-feira)"),
    (date(2027, 2, 9), "Carnaval (terça-feira)"),
    (date(2027, 3, 26), "Sexta-feira Santa"),
    (date(2027, 5, 27), "Corpus Christi"),
    (date(2027, 9, 7), "Independência do Brasil"),
    (date(2027, 12, 25), "Natal"),
])
def test_national_holidays(day, name):
    assert brazilian_holidays(day.year)[day] == name


def test_a_year_has_thirteen_days_off():
    assert len(brazilian_holidays(2026)) == len(brazilian_holidays(2027)) == 13
    assert date(2026, 2, 18) not in brazilian_holidays(2026)  # Ash Wednesday is a working day here


@pytest.mark.parametrize("local, open_", [
    (datetime(2026, 3, 10, 9, 30, tzinfo=SP), True),  # Tuesday morning
    (datetime(2026, 3, 10, 12, 30, tzinfo=SP), False),  # lunch break
    (datetime(2026, 3, 10, 18, 0, tzinfo=SP), False),  # closing time is exclusive
    (datetime(2026, 3, 10, 7, 59, tzinfo=SP), False),
    (datetime(2026, 3, 14, 10, 0, tzinfo=SP), True),  # Saturday morning
    (datetime(2026, 3, 14, 14, 0, tzinfo=SP), False),  # Saturday afternoon
    (datetime(2026, 3, 15, 10, 0, tzinfo=SP), False),  # Sunday
    (datetime(2026, 2, 17, 10, 0, tzinfo=SP), False),  # Carnaval Tuesday
    (datetime(2026, 4, 3, 10, 0, tzinfo=SP), False),  # Sexta-feira Santa
    (datetime(2026, 6, 4, 10, 0, tzinfo=SP), False),  # Corpus Christi
    (datetime(2026, 11, 20, 10, 0, tzinfo=SP), False),  # Consciência Negra (a Friday)
    (datetime(2026, 1, 25, 10, 0, tzinfo=SP), False),  # São Paulo's anniversary, from extra_closed
    (datetime(2027, 3, 26, 10, 0, tzinfo=SP), False),  # Sexta-feira Santa 2027
    (datetime(2027, 5, 27, 10, 0, tzinfo=SP), False),  # Corpus Christi 2027
    (datetime(2027, 5, 28, 10, 0, tzinfo=SP), True),  # the Friday after
    (datetime(2027, 2, 10, 10, 0, tzinfo=SP), True),  # Ash Wednesday 2027
])
def test_solar_business_time(local, open_):
    assert is_business_time(SOLAR, local) is open_


def test_the_playbooks_time_zone_decides_not_the_callers():
    # 11:30 UTC is 08:30 in Recife (open) on an ordinary Monday; 21:30 UTC is 18:30 (open) and 22:30 UTC closed.
    assert is_business_time(STAFFING, datetime(2026, 8, 3, 11, 30, tzinfo=timezone.utc))
    assert is_business_time(STAFFING, datetime(2026, 8, 3, 21, 30, tzinfo=timezone.utc))
    assert not is_business_time(STAFFING, datetime(2026, 8, 3, 22, 30, tzinfo=timezone.utc))
    # 09:00 in São Paulo is before the solar company's lunch break, 16:30 UTC is 13:30 there: open again.
    assert not is_business_time(SOLAR, datetime(2026, 8, 3, 15, 30, tzinfo=timezone.utc))
    assert is_business_time(SOLAR, datetime(2026, 8, 3, 16, 30, tzinfo=timezone.utc))


def test_regional_days_off_of_the_staffing_playbook():
    assert not is_business_time(STAFFING, datetime(2026, 6, 24, 10, 0, tzinfo=ZoneInfo("America/Recife")))
    assert is_business_time(STAFFING, datetime(2026, 6, 25, 10, 0, tzinfo=ZoneInfo("America/Recife")))


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        is_business_time(SOLAR, datetime(2026, 3, 10, 9, 30))


def test_extra_closed_dates_may_be_quoted():
    data = yaml.safe_load((REPO_ROOT / "playbooks" / "solar.yaml").read_text(encoding="utf-8"))
    data["business_hours"]["extra_closed"] = ["2026-03-10"]
    playbook = parse_playbook(data, "quoted.yaml")
    assert not is_business_time(playbook, datetime(2026, 3, 10, 9, 30, tzinfo=SP))
