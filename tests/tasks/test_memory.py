"""The analyze task asks for the rolling summary when the turn found too much history unsummarized."""

from __future__ import annotations

from sdr.pipeline import start_step
from tests.factories import phone, receive
from tests.sdr.test_summary import long_conversation
from tests.web.conftest import queued


def analyze_task(rt, cid: int):
    from tasks.turn import analyze

    started = start_step(rt, cid, "")
    return analyze(cid, started.token, started.queued_at)  # the task body, in this process


def test_a_long_conversation_gets_its_summary_enqueued(rt):
    cid = long_conversation(rt, 60)
    payload = analyze_task(rt, cid)
    assert payload["context"]["summary_due"]
    assert ("sdr.memory.summarize", [cid]) in queued(rt, "agent")


def test_a_short_one_does_not(rt):
    cid = receive(rt, phone(1), "Oi").conversation_id
    assert not analyze_task(rt, cid)["context"]["summary_due"]
    assert [name for name, _ in queued(rt, "agent") if name == "sdr.memory.summarize"] == []
