"""The collaborators a turn needs, built once per process and passed to every step."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, ContextManager

import openai
import redis
from sqlalchemy.orm import Session

from sdr.agent.playbook import Playbook, cached_playbook
from sdr.buffer import Buffer, Timing
from sdr.channels.base import Channel
from sdr.channels.registry import channel_for
from sdr.db import session_scope
from sdr.llm import get_client
from sdr.redis_client import get_redis
from sdr.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    sessions: Callable[[], ContextManager[Session]]
    redis: redis.Redis
    buffer: Buffer
    llm: openai.OpenAI
    playbook: Playbook
    channels: dict[str, Channel] = field(default_factory=dict)

    def channel(self, provider: str) -> Channel:
        if provider not in self.channels:
            self.channels[provider] = channel_for(provider, self.settings)
        return self.channels[provider]


def build_runtime(settings: Settings) -> Runtime:
    client = get_redis(settings)
    timing = Timing(settings.buffer_quiet_seconds, settings.buffer_max_seconds, settings.turn_lock_seconds)
    return Runtime(
        settings=settings,
        sessions=functools.partial(session_scope, settings),
        redis=client,
        buffer=Buffer(client, timing),
        llm=get_client(settings),
        playbook=cached_playbook(settings.playbook_path),
    )


@functools.cache
def process_runtime() -> Runtime:
    """The runtime of this process, from the environment."""
    return build_runtime(get_settings())
