"""Several Meta chips on the delivery path: each conversation's replies leave from its own chip, caps hold
under concurrent sends, a capped part waits instead of being dropped, and a refused send gives its slot back."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from sdr.channels.base import InboundEvent
from sdr.chip_caps import chip_usage
from sdr.chips import NewChip, add_chip, ensure_env_chips
from sdr.delivery import send_step
from sdr.pipeline import ingest_step
from sdr.runtime import build_runtime
from sdr.settings import load_settings
from tests.factories import outbox_of, phone, prepare_send, rows, store
from tests.meta_factories import PHONE_NUMBER_ID, meta_env, wamid

SECOND = "555000111"
ONE_PART = "Olá! Sou a Ana, da Sol Forte. Qual é o valor médio da sua conta de luz?"


@pytest.fixture()
def mrt(clean, base_env, llm, meta):
    """Meta configured against the stand-in: the environment's chip (hourly cap 3) and a second chip with its
    own token (daily cap 2)."""
    settings = load_settings({**base_env, **meta_env(meta.url), "SDR_CHIP_SECRET_VENDAS2": "chip-2-token"})
    rt = build_runtime(settings)
    with rt.sessions() as session:
        ensure_env_chips(session, settings)
        session.execute(text("UPDATE chips SET hourly_cap = 3 WHERE external_id = :e"), {"e": PHONE_NUMBER_ID})
        add_chip(session, NewChip("meta", SECOND, daily_cap=2, credentials_ref="SDR_CHIP_SECRET_VENDAS2"))
    meta.configure(tokens={SECOND: "chip-2-token"})
    return rt


def chip_id(rt, external_id: str) -> int:
    with rt.sessions() as session:
        return session.execute(text("SELECT id FROM chips WHERE external_id = :e"), {"e": external_id}).scalar_one()


def lead_writes(rt, address: str, chip: str, body: str = "Oi, quanto custa?") -> int:
    event = InboundEvent(provider="meta", channel_ref=chip, provider_message_id=wamid(), lead_address=address,
                         kind="text", text=body, profile_name="Maria")
    with rt.sessions() as session:
        [message_id] = store(session, event)
    start = ingest_step(rt, message_id)
    return start.conversation_id if start else None


def test_a_conversation_answers_from_the_chip_the_lead_wrote_to(mrt, llm, meta):
    llm.script([{"kind": "reply", "content": ONE_PART}] * 2)
    on_first = lead_writes(mrt, phone(1), PHONE_NUMBER_ID)
    on_second = lead_writes(mrt, phone(1), SECOND)  # the same lead on another of our numbers
    assert on_first != on_second
    for cid in (on_second, on_first):
        assert send_step(mrt, prepare_send(mrt, cid), last_attempt=False).outcome == "done"
    assert [(s["phone_number_id"], s["to"]) for s in meta.sent()] == [(SECOND, phone(1)), (PHONE_NUMBER_ID, phone(1))]
    second_chip_request = [r for r in meta.requests("send") if r["phone_number_id"] == SECOND][0]
    assert second_chip_request["headers"]["Authorization"] == "Bearer chip-2-token"


def test_two_chips_under_concurrent_sends_never_exceed_their_caps(mrt, llm, meta):
    llm.script([{"kind": "reply", "content": ONE_PART}] * 12)
    chips = [PHONE_NUMBER_ID, SECOND] * 6
    payloads = [prepare_send(mrt, lead_writes(mrt, phone(n), chip)) for n, chip in enumerate(chips)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(payloads))

    def send(payload):
        barrier.wait(10)
        outcomes.append(send_step(mrt, payload, last_attempt=False).outcome)

    threads = [threading.Thread(target=send, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    per_chip = {c: [s["to"] for s in meta.sent() if s["phone_number_id"] == c] for c in (PHONE_NUMBER_ID, SECOND)}
    assert (len(per_chip[PHONE_NUMBER_ID]), len(per_chip[SECOND])) == (3, 2)
    assert sorted(outcomes) == ["done"] * 5 + ["retry"] * 7
    for n, chip in enumerate(chips):  # whoever was answered was answered from the chip they wrote to
        assert phone(n) in per_chip[chip] or all(phone(n) not in sent for sent in per_chip.values())
    assert chip_usage(mrt.redis, chip_id(mrt, PHONE_NUMBER_ID))[0] == 3
    assert chip_usage(mrt.redis, chip_id(mrt, SECOND))[1] == 2


def test_a_capped_part_waits_for_the_next_window_instead_of_being_dropped(mrt, llm, meta):
    llm.script([{"kind": "reply", "content": ONE_PART}] * 3)
    for n in range(2):
        send_step(mrt, prepare_send(mrt, lead_writes(mrt, phone(n), SECOND)), last_attempt=False)
    payload = prepare_send(mrt, lead_writes(mrt, phone(9), SECOND))
    delivery = send_step(mrt, payload, last_attempt=True)  # even on what would be the last attempt
    assert (delivery.outcome, delivery.rate_limited) == ("retry", True)
    assert 0 < delivery.retry_after <= 24 * 3600 and delivery.retry_payload["cap_waits"] == 1
    with mrt.sessions() as session:
        [part] = outbox_of(session, payload["turn_id"])
        [turn] = rows(session, "SELECT status FROM turns WHERE id = :t", t=payload["turn_id"])
    assert (part.status, turn.status) == ("retry", "running") and "daily cap reached" in part.last_error
    assert len(meta.sent()) == 2
    with mrt.sessions() as session:  # the operator raises the cap (or the day turns): the reply goes out
        session.execute(text("UPDATE chips SET daily_cap = 3 WHERE external_id = :e"), {"e": SECOND})
    assert send_step(mrt, delivery.retry_payload, last_attempt=False).outcome == "done"
    assert [s["to"] for s in meta.sent()][-1] == phone(9)


def test_a_refused_send_gives_its_reservation_back(mrt, llm, meta):
    llm.script([{"kind": "reply", "content": ONE_PART}] * 2)
    meta.configure(meta_errors=[131026, 130429])
    for n in range(2):
        send_step(mrt, prepare_send(mrt, lead_writes(mrt, phone(n), SECOND)), last_attempt=False)
    assert meta.sent() == [] and chip_usage(mrt.redis, chip_id(mrt, SECOND)) == (0, 0)


def test_a_message_to_an_unknown_number_is_stored_but_not_answered(mrt):
    assert lead_writes(mrt, phone(1), "999999999") is None
    with mrt.sessions() as session:
        [message] = rows(session, "SELECT status, conversation_id FROM messages")
    assert (message.status, message.conversation_id) == ("orphaned", None)


def test_a_redis_failure_while_reserving_puts_the_part_back_instead_of_leaving_it_maybe_sent(mrt, llm, meta):
    from sdr.chip_caps import windows

    payload = prepare_send(mrt, lead_writes(mrt, phone(1), SECOND))
    key = windows(chip_id(mrt, SECOND), datetime.now(timezone.utc)).hour_key
    mrt.redis.hset(key, "broken", "1")  # a real Redis error (WRONGTYPE) inside the reservation script
    delivery = send_step(mrt, payload, last_attempt=False)
    assert delivery.outcome == "retry" and meta.sent() == []
    with mrt.sessions() as session:
        [part] = outbox_of(session, payload["turn_id"])
    assert part.status == "retry" and "chip caps" in part.last_error
    mrt.redis.delete(key)
    assert send_step(mrt, delivery.retry_payload, last_attempt=False).outcome == "done"
    assert [s["to"] for s in meta.sent()] == [phone(1)]
