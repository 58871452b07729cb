"""A worker killed -9 while it transcribes a voice note: the redelivered resolution finishes the job,
the transcript is written once, and the lead gets one answer based on it."""

from __future__ import annotations

import json
import time

import pytest

from sdr.settings import load_settings
from tests.e2e.helpers import restore_expired_unacked, scalar, sql, unacked_tasks
from tests.e2e.test_media import send, wait_reply
from tests.e2e.test_recovery import RECOVERY_ENV, VISIBILITY_TIMEOUT
from tests.factories import phone
from tests.fleet import wait_until



@pytest.fixture(scope="module")
def fleet_env(base_env: dict[str, str]) -> dict[str, str]:
    env = {**base_env, **RECOVERY_ENV}
    load_settings(env)
    return env


def test_worker_killed_mid_transcription_resolves_once_and_answers_once(e2e, llm, media, settings):
    media.add_files({"name": "voz.ogg", "mime": "audio/ogg", "text": "TRANSCRIPT: Quero saber o preço do kit solar"})
    llm.configure(latency=3.0)  # below the 5 s model timeout of RECOVERY_ENV
    number = phone(31)
    send(e2e, number, media={"url": f"{media.url}/files/voz.ogg", "mime": "audio/ogg"})
    wait_until(lambda: llm.requests(kind="transcription") and llm.stats()["in_flight"] >= 1, 30, 0.05,
               "the transcription call to be in flight")
    stranded = [tid for tid, name in unacked_tasks(e2e).items() if name == "sdr.media.resolve"]
    assert len(stranded) == 1, unacked_tasks(e2e)

    e2e.kill("worker")  # SIGKILL: the transcript is never written by this attempt
    killed_at = time.monotonic()
    llm.configure(latency=0.1)
    [pending] = sql(settings, "SELECT id, media_status FROM messages WHERE direction = 'in'")
    assert pending.media_status == "pending"

    e2e.relaunch("worker")
    time.sleep(max(0.0, VISIBILITY_TIMEOUT + 1 - (time.monotonic() - killed_at)))
    restore_expired_unacked(e2e, VISIBILITY_TIMEOUT)  # the broker hands the resolution out again
    messages = wait_reply(e2e, number)

    row = sql(settings, "SELECT media_status, media_text FROM messages WHERE id = :mid", mid=pending.id)[0]
    assert (row.media_status, row.media_text) == ("ready", "Quero saber o preço do kit solar")
    assert scalar(settings, "SELECT count(*) FROM media_cache") == 1
    assert llm.stats()["calls"]["transcription"] == 2  # the killed attempt and the redelivered one
    time.sleep(2)
    replies = [m for m in wait_reply(e2e, number) if m["direction"] == "out"]
    assert len(replies) == 1 and len(messages) == 2
    reply_prompt = json.dumps(llm.requests(kind="reply")[-1]["body"]["messages"], ensure_ascii=False)
    assert "[áudio] Quero saber o preço do kit solar" in reply_prompt
