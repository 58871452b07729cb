"""Debounce and the one-turn-at-a-time lock, per conversation, in Redis.

Each inbound message bumps a generation counter and schedules a flush at
min(now + quiet, first waiting message + max). A flush starts a turn only if it carries the
latest generation (or the max wait is over) and it can take the conversation's lock. A flush
that finds the lock taken does nothing: the running turn looks for newer messages when it
ends. Every script reads Redis's clock, so several hosts agree on time, and costs one round
trip. Which messages a turn answers is decided in Postgres, never here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import redis

BUFFER_TTL_SECONDS = 3600

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: buffer. ARGV: quiet, max. Returns {generation, delay}.
_NOTE = _NOW + """
local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
if not first then
  first = now
  redis.call('HSET', KEYS[1], 'first', string.format('%.6f', now))
end
redis.call('HSET', KEYS[1], 'last', string.format('%.6f', now))
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('EXPIRE', KEYS[1], """ + str(BUFFER_TTL_SECONDS) + """)
local due = math.min(now + tonumber(ARGV[1]), first + tonumber(ARGV[2]))
return {gen, string.format('%.6f', math.max(0, due - now))}
"""

# KEYS: buffer, lock. ARGV: generation ('' = unconditional), token, lock ms, max.
# Returns {outcome, first-waiting epoch or ''}.
_ACQUIRE = _NOW + """
if ARGV[1] ~= '' then
  local gen = redis.call('HGET', KEYS[1], 'gen')
  if gen and gen ~= ARGV[1] then
    local first = tonumber(redis.call('HGET', KEYS[1], 'first'))
    if (not first) or now < first + tonumber(ARGV[4]) then
      return {'superseded', ''}
    end
  end
end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'PX', ARGV[3]) then
  local first = redis.call('HGET', KEYS[1], 'first') or ''
  redis.call('HDEL', KEYS[1], 'first', 'last')
  return {'acquired', first}
end
return {'busy', ''}
"""

# KEYS: lock. ARGV: token, lock ms. Returns 1 if the caller still owns the lock (now extended).
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS: lock, buffer. ARGV: token, quiet, max. Returns {released, generation, delay}.
_RELEASE = _NOW + """
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = 1
end
local gen = redis.call('HGET', KEYS[2], 'gen') or ''
local first = tonumber(redis.call('HGET', KEYS[2], 'first'))
local last = tonumber(redis.call('HGET', KEYS[2], 'last'))
local delay = 0
if first and last then
  delay = math.max(0, math.min(last + tonumber(ARGV[2]), first + tonumber(ARGV[3])) - now)
end
return {released, gen, string.format('%.6f', delay)}
"""


def buffer_key(conversation_id: int) -> str:
    return f"sdr:buf:{conversation_id}"


def lock_key(conversation_id: int) -> str:
    return f"sdr:lock:{conversation_id}"


@dataclass(frozen=True)
class Timing:
    quiet: float
    max_wait: float
    lock_seconds: float

    @property
    def lock_ms(self) -> int:
        return int(self.lock_seconds * 1000)


@dataclass(frozen=True)
class Flush:
    """When to try starting a turn, and which generation that attempt belongs to."""

    generation: str
    delay: float


@dataclass(frozen=True)
class Acquired:
    outcome: str  # acquired | superseded | busy
    token: str
    first_waiting_at: datetime | None


class Buffer:
    def __init__(self, client: redis.Redis, timing: Timing):
        self._client = client
        self.timing = timing
        self._note = client.register_script(_NOTE)
        self._acquire = client.register_script(_ACQUIRE)
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    def note_inbound(self, conversation_id: int) -> Flush:
        gen, delay = self._note(keys=[buffer_key(conversation_id)], args=[self.timing.quiet, self.timing.max_wait])
        return Flush(generation=str(gen), delay=float(delay))

    def try_acquire(self, conversation_id: int, generation: str) -> Acquired:
        token = uuid.uuid4().hex
        keys = [buffer_key(conversation_id), lock_key(conversation_id)]
        outcome, first = self._acquire(keys=keys, args=[generation, token, self.timing.lock_ms, self.timing.max_wait])
        first_at = datetime.fromtimestamp(float(first), tz=timezone.utc) if first else None
        return Acquired(outcome=outcome, token=token, first_waiting_at=first_at)

    def extend(self, conversation_id: int, token: str) -> bool:
        """Renew the lock if `token` still owns it; False means another turn may have started."""
        return bool(self._extend(keys=[lock_key(conversation_id)], args=[token, self.timing.lock_ms]))

    def queue_extend(self, pipe: redis.client.Pipeline, conversation_id: int, token: str) -> None:
        """`extend` queued on a pipeline, so a step's cache reads share its round trip; the pipeline's
        result is 1 if `token` still owns the lock. Sent as EVAL: a pipelined EVALSHA would cost a
        SCRIPT EXISTS round trip first."""
        pipe.eval(_EXTEND, 1, lock_key(conversation_id), token, self.timing.lock_ms)

    def release(self, conversation_id: int, token: str) -> Flush:
        """Give the lock back; returns when a follow-up flush should run if messages are waiting."""
        keys = [lock_key(conversation_id), buffer_key(conversation_id)]
        _released, gen, delay = self._release(keys=keys, args=[token, self.timing.quiet, self.timing.max_wait])
        return Flush(generation=gen, delay=float(delay))
