"""The rolling summary of a long conversation, made in the background so prompts stay bounded.

Prompts show the summary plus the newest messages (SDR_HISTORY_MESSAGES). When more than
SDR_SUMMARY_AFTER_MESSAGES visible messages lie beyond what the summary covers, the turn asks
for `summarize_conversation`: one model call folds the older of them (all but the newest half
of the window, and never an inbound message not yet answered) into the summary, which is
stored with the id of the last message it covers. A summary computed from an older state is
dropped, not written over a newer one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from sqlalchemy import text

from sdr.agent.context import HistoryItem
from sdr.agent.prompts import transcript
from sdr.llm import complete
from sdr.memory import summary_claim_key
from sdr.runtime import Runtime
from sdr.turns import VISIBLE

log = logging.getLogger(__name__)

MAX_BATCH = 400  # messages folded in per call, so the summary call itself stays bounded
MAX_SUMMARY_CHARS = 1500
CLAIM_SECONDS = 300

INSTRUCTIONS = (
    "Você resume conversas de vendas pelo WhatsApp para o próprio time de vendas. Atualize o resumo anterior "
    "com as mensagens novas. Mantenha os fatos que o lead contou (necessidade, valores, cidade, prazos, "
    "objeções, pedidos), o que a empresa já ofereceu ou prometeu e o que ficou pendente. Não invente nada. "
    f"No máximo {MAX_SUMMARY_CHARS // 6} palavras, em português. "
    'Responda apenas com JSON: {"summary": "..."}'
)

_SOURCE = text("""
SELECT c.summary, c.summary_through_id,
       (SELECT coalesce(json_agg(h ORDER BY h.id), '[]') FROM (
            SELECT m.id, m.author, m.kind, left(m.text, 2000) AS text, false AS pending FROM messages m
            WHERE m.conversation_id = c.id AND m.id > c.summary_through_id AND VISIBLE
              AND NOT (m.direction = 'in' AND m.id > c.watermark_id)
              AND m.id < coalesce((SELECT min(o.id) FROM messages o WHERE o.conversation_id = c.id
                                   AND o.direction = 'in' AND o.status = 'received' AND o.id > c.watermark_id),
                                  9223372036854775807)
            ORDER BY m.id LIMIT :batch) h) AS items
FROM conversations c WHERE c.id = :cid
""".replace("VISIBLE", VISIBLE))

_STORE = text("""
UPDATE conversations SET summary = :summary, summary_through_id = :through, updated_at = now()
WHERE id = :cid AND summary_through_id = :previous
RETURNING id
""")


@dataclass(frozen=True)
class Summarized:
    through_id: int
    messages: int  # how many messages this call folded in


def summary_messages(previous: str | None, items: list[HistoryItem]) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": f"Resumo anterior: {previous or '(nenhum)'}\n\n"
                                    f"Mensagens novas:\n{transcript(items)}"},
    ]


def parse_summary(content: str) -> str:
    """The summary text; a model that ignored the JSON instruction still gets its text used."""
    try:
        data = json.loads(content)
        summary = data.get("summary") if isinstance(data, dict) else None
    except ValueError:
        summary = None
    return " ".join(str(summary if isinstance(summary, str) else content).split())[:MAX_SUMMARY_CHARS]


def summarize_conversation(rt: Runtime, conversation_id: int) -> Summarized | None:
    """Fold the conversation's older unsummarized messages into its summary; None when there was
    nothing to do (or another worker is doing it). LLM errors propagate so the task can retry."""
    if not rt.redis.set(summary_claim_key(conversation_id), "1", nx=True, ex=CLAIM_SECONDS):
        return None
    try:
        return _summarize(rt, conversation_id)
    finally:
        rt.redis.delete(summary_claim_key(conversation_id))


def _summarize(rt: Runtime, conversation_id: int) -> Summarized | None:
    with rt.sessions() as session:
        row = session.execute(_SOURCE, {"cid": conversation_id, "batch": MAX_BATCH}).one_or_none()
    if row is None:
        return None
    items = [HistoryItem(**item) for item in row.items]
    if len(items) <= rt.settings.summary_after_messages:
        return None  # not due (any more): a duplicate request after the summary was made
    # The newest messages stay out (the prompt shows them anyway) unless there is more to catch up on.
    keep = rt.settings.history_messages // 2 if len(items) < MAX_BATCH else 0
    covered = items[:len(items) - keep]
    if not covered:
        return None
    completion = complete(rt.llm, rt.settings.summary_model, summary_messages(row.summary, covered),
                          {"type": "json_object"})
    summary = parse_summary(completion.content)
    if not summary:
        log.warning("conversation %s: the summary came back empty; kept the previous one", conversation_id)
        return None
    with rt.sessions() as session:
        stored = session.execute(_STORE, {"cid": conversation_id, "summary": summary, "through": covered[-1].id,
                                          "previous": row.summary_through_id}).one_or_none()
    return Summarized(covered[-1].id, len(covered)) if stored else None
