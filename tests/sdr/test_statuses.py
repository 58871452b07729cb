"""Provider status reports: only ever forward (failed terminal, a late "sent" resurrects nothing,
read-before-sent ends as read), deduplicated on (message id, status), one statement per batch,
and safe under concurrent webhooks."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import text

from sdr.accounting import counters
from sdr.channels.base import StatusUpdate
from sdr.db import session_scope
from sdr.outbound import finish
from sdr.statuses import apply_statuses
from tests.factories import rows
from tests.sdr.test_outbound import claim, turn_with_parts


def sent_part(rt, body: str = "Olá!", pmid: str | None = None) -> str:
    """A reply part the provider took, with id `pmid`; returns the id."""
    pmid = pmid or "3EB0" + uuid.uuid4().hex.upper()
    ctx = turn_with_parts(rt, body)
    got = claim(rt, ctx, 0)
    with rt.sessions() as session:
        finish(session, ctx.turn_id, final=True, sent_outbox_id=got.outbox_id, provider_message_id=pmid)
    return pmid


def report(pmid: str, status: str, provider: str = "evolution", **extra) -> StatusUpdate:
    return StatusUpdate(provider=provider, provider_message_id=pmid, status=status, **extra)


def apply(rt, *updates: StatusUpdate) -> int:
    with rt.sessions() as session:
        return apply_statuses(session, list(updates))


def state(rt, pmid: str):
    with rt.sessions() as session:
        [row] = rows(session, "SELECT o.status AS outbox, o.last_error, m.status AS message FROM outbox o "
                              "JOIN messages m ON m.id = o.message_id WHERE o.provider_message_id = :p", p=pmid)
    return row


def test_statuses_move_the_message_forward_in_one_statement_per_batch(rt):
    pmid = sent_part(rt)
    assert state(rt, pmid).message == "sent"
    before = counters.snapshot()
    assert apply(rt, report(pmid, "delivered")) == 1
    assert counters.since(before).sql == 1
    assert state(rt, pmid).message == "delivered"
    before = counters.snapshot()
    assert apply(rt, report(pmid, "sent"), report(pmid, "read"), report(pmid, "delivered")) == 1
    assert counters.since(before).sql == 1
    assert (state(rt, pmid).message, state(rt, pmid).outbox) == ("read", "sent")


def test_read_before_sent_ends_as_read(rt):
    pmid = sent_part(rt)
    assert apply(rt, report(pmid, "read")) == 1
    assert apply(rt, report(pmid, "delivered")) == 0
    assert apply(rt, report(pmid, "sent")) == 0
    assert state(rt, pmid).message == "read"


def test_failed_is_terminal_and_recorded_on_the_outbox(rt):
    pmid = sent_part(rt)
    apply(rt, report(pmid, "delivered"))
    assert apply(rt, report(pmid, "failed", error_code="131047", error_text="Re-engagement message")) == 1
    assert apply(rt, report(pmid, "read"), report(pmid, "sent")) == 0
    row = state(rt, pmid)
    assert (row.message, row.outbox, row.last_error) == ("failed", "failed", "131047: Re-engagement message")


def test_a_redelivered_report_changes_nothing_and_is_kept_once(rt):
    pmid = sent_part(rt)
    assert apply(rt, report(pmid, "delivered"), report(pmid, "delivered")) == 1
    assert apply(rt, report(pmid, "delivered")) == 0
    with rt.sessions() as session:
        kept = rows(session, "SELECT status FROM message_statuses WHERE provider_message_id = :p", p=pmid)
    assert [r.status for r in kept] == ["delivered"]


def test_reports_of_another_provider_or_unknown_ids_touch_nothing(rt):
    pmid = sent_part(rt)
    assert apply(rt, report(pmid, "read", provider="zapi"), report("SMnot-ours", "read", provider="twilio")) == 0
    assert state(rt, pmid).message == "sent"


def test_a_report_that_beats_the_send_record_is_caught_up(rt):
    ctx = turn_with_parts(rt, "Olá!")
    got = claim(rt, ctx, 0)
    assert apply(rt, report("3EB0EARLY", "delivered")) == 0  # the send has not recorded the id yet
    with rt.sessions() as session:
        finish(session, ctx.turn_id, final=True, sent_outbox_id=got.outbox_id, provider_message_id="3EB0EARLY")
    assert state(rt, "3EB0EARLY").message == "delivered"
    assert apply(rt, report("3EB0EARLY", "read")) == 1
    assert state(rt, "3EB0EARLY").message == "read"


def test_concurrent_reports_never_move_a_message_back(rt):
    """Many messages, each getting sent/delivered/read (and duplicates) from parallel webhooks."""
    pmids = [sent_part(rt, f"parte {n}") for n in range(6)]
    with rt.sessions() as session:  # back to 'sent', as if no report had come yet
        session.execute(text("UPDATE messages SET status = 'sent' WHERE direction = 'out'"))
    batches = [[report(p, s) for p in pmids] for s in ("read", "delivered", "sent", "read", "delivered", "sent")]
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def deliver(batch):
        try:
            barrier.wait(10)
            with session_scope(rt.settings) as session:
                apply_statuses(session, batch)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert [state(rt, p).message for p in pmids] == ["read"] * len(pmids)
    with rt.sessions() as session:
        counts = rows(session, "SELECT count(*) AS n FROM message_statuses GROUP BY provider_message_id")
    assert [c.n for c in counts] == [3] * len(pmids)  # sent, delivered, read: once each
