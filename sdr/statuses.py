"""Provider status reports (sent, delivered, read, failed) applied to what we sent, in one statement.

A message's status only ever moves forward along `STATUS_ORDER` — failed is terminal, a late
"sent" never resurrects anything, and read-before-sent ends as read — whatever order reports
arrive in and however often they are redelivered:

- every report is inserted once into `message_statuses` (unique on provider, provider message id
  and status): a redelivered report inserts nothing and changes nothing;
- only newly inserted reports touch the outbox and the message, and only upwards (the rank check
  is re-evaluated on the locked row, so concurrent reports for one message cannot move it back);
- a report that arrives before the send has recorded the provider's message id stays in the
  table; `sdr.outbound.finish` picks the best recorded status up when it records the id.

A failed report also marks the outbox row failed with the provider's error, so the failure is
visible next to the send that caused it.
"""

from __future__ import annotations

from typing import Sequence

from sqlalchemy import text
from sqlalchemy.orm import Session

from sdr.channels.base import STATUS_ORDER, StatusUpdate

RANK_SQL = ("CASE {col} WHEN 'sent' THEN 1 WHEN 'delivered' THEN 2 WHEN 'read' THEN 3 "
            "WHEN 'failed' THEN 4 ELSE 0 END")

_APPLY = text(f"""
WITH report AS (
    SELECT * FROM unnest(CAST(:providers AS text[]), CAST(:pmids AS text[]), CAST(:statuses AS text[]),
                         CAST(:ranks AS int[]), CAST(:ats AS timestamptz[]), CAST(:codes AS text[]),
                         CAST(:errors AS text[]))
        AS r(provider, provider_message_id, status, rank, reported_at, error_code, error_text)
),
fresh AS (
    INSERT INTO message_statuses (provider, provider_message_id, status, rank, reported_at, error_code, error_text)
    SELECT * FROM report
    ON CONFLICT (provider, provider_message_id, status) DO NOTHING
    RETURNING provider, provider_message_id, status, rank, error_code, error_text
),
best AS (  -- the highest new report per message in this batch
    SELECT DISTINCT ON (provider, provider_message_id) * FROM fresh
    ORDER BY provider, provider_message_id, rank DESC
),
target AS (
    SELECT o.id AS outbox_id, o.message_id, best.status, best.rank, best.error_code, best.error_text
    FROM best
    JOIN outbox o ON o.provider_message_id = best.provider_message_id
    JOIN chips ch ON ch.id = o.chip_id AND ch.provider = best.provider
),
moved AS (
    UPDATE messages m SET status = target.status
    FROM target
    WHERE m.id = target.message_id AND m.status IN ('queued', 'sent', 'delivered', 'read')
      AND {RANK_SQL.format(col='m.status')} < target.rank
    RETURNING m.id
),
failed AS (
    UPDATE outbox o SET status = 'failed',
        last_error = left(concat_ws(': ', target.error_code, coalesce(target.error_text, 'failed after sending')), 500)
    FROM target
    WHERE o.id = target.outbox_id AND target.status = 'failed' AND o.status IN ('sending', 'sent', 'unknown')
    RETURNING o.id
)
SELECT (SELECT count(*) FROM moved) AS moved, (SELECT count(*) FROM failed) AS failed
""")


def apply_statuses(session: Session, updates: Sequence[StatusUpdate]) -> int:
    """Record the reports and move the messages they concern forward; the number of messages moved."""
    known = [u for u in updates if u.status in STATUS_ORDER and u.provider_message_id]
    if not known:
        return 0
    row = session.execute(_APPLY, {
        "providers": [u.provider for u in known],
        "pmids": [u.provider_message_id for u in known],
        "statuses": [u.status for u in known],
        "ranks": [STATUS_ORDER[u.status] for u in known],
        "ats": [u.at for u in known],
        "codes": [u.error_code for u in known],
        "errors": [(u.error_text or "")[:500] or None for u in known],
    }).one()
    return int(row.moved)


# For sdr.outbound.finish: the best status already reported for a provider message id ('sent' if none).
CAUGHT_UP_STATUS_SQL = """coalesce((SELECT s.status FROM message_statuses s
    WHERE s.provider_message_id = :pmid ORDER BY s.rank DESC LIMIT 1), 'sent')"""
