"""When the business is open: weekly hours in its time zone, minus Brazilian national holidays.

National holidays are computed, not listed: the fixed dates of Lei 662/1949 and its amendments
(Consciência Negra since Lei 14.759/2023) plus the Easter-based days most businesses close on —
Carnaval (Monday and Tuesday), Sexta-feira Santa and Corpus Christi. State and city holidays
are the playbook's `extra_closed` dates.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from sdr.agent.playbook import Playbook

WEEKDAYS = ("seg", "ter", "qua", "qui", "sex", "sab", "dom")  # date.weekday() order

FIXED_HOLIDAYS = (
    (1, 1, "Confraternização Universal"),
    (4, 21, "Tiradentes"),
    (5, 1, "Dia do Trabalho"),
    (9, 7, "Independência do Brasil"),
    (10, 12, "Nossa Senhora Aparecida"),
    (11, 2, "Finados"),
    (11, 15, "Proclamação da República"),
    (11, 20, "Dia Nacional de Zumbi e da Consciência Negra"),
    (12, 25, "Natal"),
)


@dataclass(frozen=True)
class Interval:
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class BusinessHours:
    timezone: ZoneInfo
    week: tuple[tuple[Interval, ...], ...]  # seven entries, Monday first; empty = closed all day
    national_holidays: bool
    extra_closed: tuple[date, ...]


def easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Gregorian algorithm)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l_ = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 19 * l_) // 433
    month = (h + l_ - 7 * m + 90) // 25
    day = (h + l_ - 7 * m + 33 * month + 19) % 32
    return date(year, month, day)


@functools.cache
def brazilian_holidays(year: int) -> dict[date, str]:
    """National holidays and the Easter-based days off of `year`, by date."""
    days = {date(year, month, day): name for month, day, name in FIXED_HOLIDAYS}
    sunday = easter(year)
    days[sunday - timedelta(days=48)] = "Carnaval (segunda-feira)"
    days[sunday - timedelta(days=47)] = "Carnaval (terça-feira)"
    days[sunday - timedelta(days=2)] = "Sexta-feira Santa"
    days[sunday + timedelta(days=60)] = "Corpus Christi"
    return days


def is_closed_day(hours: BusinessHours, day: date) -> bool:
    return day in hours.extra_closed or (hours.national_holidays and day in brazilian_holidays(day.year))


def is_business_time(playbook: Playbook, when: datetime) -> bool:
    """Whether `when` (timezone-aware) falls inside the playbook's business hours."""
    if when.tzinfo is None:
        raise ValueError("is_business_time needs a timezone-aware datetime")
    hours = playbook.hours
    local = when.astimezone(hours.timezone)
    if is_closed_day(hours, local.date()):
        return False
    return any(interval.contains(local.time()) for interval in hours.week[local.weekday()])
