"""Per-chip hourly and daily send caps, enforced atomically in Redis.

Before a part goes to the provider the sender reserves one send in the chip's current hour and
day: one Lua script (one round trip) checks both counters and increments both only if neither
is full, so concurrent senders on any number of hosts can never overshoot. A send the provider
refused (or never received) gives its reservation back; a send over a cap is not dropped but
waits for the window that blocked it. Chips without caps cost no round trip.

Hours are clock hours; days are the business's calendar days (America/Sao_Paulo by default).
Counters expire with their window, so a flushed Redis only forgets how much was sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import redis

log = logging.getLogger(__name__)

DEFAULT_TZ = "America/Sao_Paulo"
FULL = {1: "hourly", 2: "daily"}

# KEYS: hour counter, day counter. ARGV: hourly cap, daily cap (-1: none), hour ttl, day ttl.
# Returns 0 (reserved), 1 (hourly cap full) or 2 (daily cap full).
_RESERVE = """
local hcap, dcap = tonumber(ARGV[1]), tonumber(ARGV[2])
if hcap >= 0 and tonumber(redis.call('GET', KEYS[1]) or '0') >= hcap then return 1 end
if dcap >= 0 and tonumber(redis.call('GET', KEYS[2]) or '0') >= dcap then return 2 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 0
"""

# KEYS: the counters a reservation incremented. Never below zero (a counter may have expired meanwhile).
_REFUND = """
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') > 0 then redis.call('DECR', key) end
end
return 0
"""


@dataclass(frozen=True)
class Caps:
    hourly: int | None = None
    daily: int | None = None

    @property
    def enforced(self) -> bool:
        return self.hourly is not None or self.daily is not None


@dataclass(frozen=True)
class Reservation:
    granted: bool
    keys: tuple[str, ...] = ()  # counters to give back on refund
    full: str | None = None  # "hourly" or "daily" when refused
    retry_after: float = 0.0  # seconds until the window that refused opens again


@dataclass(frozen=True)
class Windows:
    hour_key: str
    day_key: str
    hour_left: float  # seconds until the next hour / day starts
    day_left: float


def windows(chip_id: int, now: datetime, tz: str = DEFAULT_TZ) -> Windows:
    """The counters of `chip_id` for the hour and day containing `now`."""
    local = now.astimezone(ZoneInfo(tz))
    hour_start = now.replace(minute=0, second=0, microsecond=0)
    next_day = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), local.tzinfo)
    tag = f"{{chip:{chip_id}}}"  # one hash slot per chip, so a script may touch both keys on a cluster
    return Windows(
        hour_key=f"sdr:cap:{tag}:h:{hour_start.astimezone(timezone.utc):%Y%m%d%H}",
        day_key=f"sdr:cap:{tag}:d:{local:%Y%m%d}",
        hour_left=(hour_start + timedelta(hours=1) - now).total_seconds(),
        day_left=(next_day - local).total_seconds(),
    )


def reserve_send(client: redis.Redis, chip_id: int, caps: Caps, now: datetime | None = None,
                 tz: str = DEFAULT_TZ) -> Reservation:
    """Take one send from the chip's hourly and daily allowance, or say which is full and for how long."""
    if not caps.enforced:
        return Reservation(granted=True)
    w = windows(chip_id, now or datetime.now(timezone.utc), tz)
    hourly = -1 if caps.hourly is None else caps.hourly
    daily = -1 if caps.daily is None else caps.daily
    # Counters outlive their window a little, so a late refund still finds its key.
    verdict = int(client.eval(_RESERVE, 2, w.hour_key, w.day_key, hourly, daily,
                              int(w.hour_left) + 600, int(w.day_left) + 3600))
    if verdict == 0:
        return Reservation(granted=True, keys=(w.hour_key, w.day_key))
    full = FULL[verdict]
    return Reservation(granted=False, full=full, retry_after=w.hour_left if full == "hourly" else w.day_left)


def refund_send(client: redis.Redis, reservation: Reservation) -> None:
    """Give a reservation back: the provider refused the send or never received it."""
    if not reservation.keys:
        return
    try:
        client.eval(_REFUND, len(reservation.keys), *reservation.keys)
    except redis.RedisError as exc:  # best effort: a lost refund only makes the cap stricter until the window ends
        log.warning("could not refund a send to %s: %s", reservation.keys[0], exc)


def chip_usage(client: redis.Redis, chip_id: int, now: datetime | None = None,
               tz: str = DEFAULT_TZ) -> tuple[int, int]:
    """Sends reserved in the chip's current hour and day."""
    w = windows(chip_id, now or datetime.now(timezone.utc), tz)
    hour, day = client.mget(w.hour_key, w.day_key)
    return int(hour or 0), int(day or 0)
