"""When the business is open: weekly hours in its time zone, minus Brazilian national holidays;
and the playbook's `business_hours:` section that says so.

National holidays are computed, not listed: the fixed dates of Lei 662/1949 and its amendments
(Consciência Negra since Lei 14.759/2023) plus the Easter-based days most businesses close on —
Carnaval (Monday and Tuesday), Sexta-feira Santa and Corpus Christi. State and city holidays
are the playbook's `extra_closed` dates.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sdr.agent.fields import Node, Reader

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


CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def parse_hours(r: Reader, root: Node) -> BusinessHours:
    node = r.section(root, "business_hours")
    name = r.text(node, "timezone")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise r.fail(node.at("timezone"), f"'{name}' is not an IANA time zone (e.g. America/Sao_Paulo)") from None
    days = r.section(node, "week")
    week = tuple(tuple(_interval(r, days.at(day), text) for text in r.texts(days, day)) for day in WEEKDAYS)
    extra = []
    for index, value in enumerate(node.get("extra_closed") or []):
        extra.append(_day(r, f"{node.at('extra_closed')}[{index}]", value))
    return BusinessHours(zone, week, r.flag(node, "national_holidays", True), tuple(extra))


def _interval(r: Reader, path: str, text: str) -> Interval:
    start, _, end = text.partition("-")
    clocks = [CLOCK.match(part.strip()) for part in (start, end)]
    if not all(clocks):
        raise r.fail(path, f"'{text}' must look like '08:00-12:00'")
    bounds = [time.max if m.group(1) == "24" else time(int(m.group(1)), int(m.group(2))) for m in clocks if m]
    if bounds[0] >= bounds[1]:
        raise r.fail(path, f"'{text}' must end after it starts")
    return Interval(bounds[0], bounds[1])


def _day(r: Reader, path: str, value: object) -> date:
    """YAML reads 2026-01-25 as a date already; a quoted one is accepted too."""
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise r.fail(path, "must be a date like 2026-01-25") from None
