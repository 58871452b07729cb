"""Matching what leads sent to what they received, per lead of a phase.

A lead's *last ack* is the wall-clock time the webhook answered its last message (measured by the
load generator). Its reply is what the Evolution stand-in received for its number: the time of the
last part is when the whole reply had been handed to the provider. The turn's model time
(``turns.llm_ms``), when the conversation was routed (``conversations.last_inbound_at``) and when
the turn opened (``turns.started_at``) come from the database. All clocks are the same host's.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from bench import workload
from bench.loadgen import Drive
from bench.rig import Rig


@dataclass(frozen=True)
class LeadReply:
    phone: str
    last_ack: float | None  # None if the webhook never acknowledged a message of this lead
    sends: tuple[float, ...]  # the stand-in's receive times, in order
    duplicate_sends: int  # the same text sent to this lead more than once
    turns: int
    done_turns: int
    parts: int  # parts of the done turns together
    llm_ms: int | None  # of the last turn
    routed_at: float | None
    started_at: float | None  # of the last turn

    @property
    def answered(self) -> bool:
        return bool(self.sends)

    @property
    def e2e_ms(self) -> float | None:
        if not self.sends or self.last_ack is None:
            return None
        return (self.sends[-1] - self.last_ack) * 1000

    @property
    def first_part_ms(self) -> float | None:
        if not self.sends or self.last_ack is None:
            return None
        return (self.sends[0] - self.last_ack) * 1000

    @property
    def extra_sends(self) -> int:
        """Sends beyond the parts of the done turns, or repeated texts: duplicates the lead would see."""
        return max(len(self.sends) - self.parts, 0, self.duplicate_sends)


def digits(number: str) -> str:
    return re.sub(r"\D", "", number.split("@", 1)[0])


def last_acks(messages: list[workload.Message], drive: Drive) -> dict[str, float | None]:
    acks: dict[str, float | None] = {}
    for message, outcome in zip(messages, drive.outcomes):
        if not outcome.ok:
            acks.setdefault(message.phone, None)
            continue
        previous = acks.get(message.phone)
        acks[message.phone] = outcome.ack_wall if previous is None else max(previous, outcome.ack_wall)
    return acks


def sends_by_phone(rig: Rig, phase: int) -> dict[str, list[tuple[float, str]]]:
    prefix = digits(workload.phase_prefix(phase))
    found: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for send in rig.evolution.sent():
        number = digits(str(send.get("number") or send.get("remoteJid") or ""))
        if number.startswith(prefix):
            found["+" + number].append((float(send["time"]), str(send.get("text"))))
    return found


TURNS_SQL = """
SELECT l.address, count(t.id), count(t.id) FILTER (WHERE t.status = 'done'),
       coalesce(sum(t.parts) FILTER (WHERE t.status = 'done'), 0),
       (array_agg(t.llm_ms ORDER BY t.id DESC))[1],
       extract(epoch FROM c.last_inbound_at),
       (array_agg(extract(epoch FROM t.started_at) ORDER BY t.id DESC))[1]
FROM leads l JOIN conversations c ON c.lead_id = l.id LEFT JOIN turns t ON t.conversation_id = c.id
WHERE l.address LIKE %s
GROUP BY l.address, c.last_inbound_at
"""


def lead_replies(rig: Rig, phase: int, messages: list[workload.Message], drive: Drive) -> list[LeadReply]:
    acks = last_acks(messages, drive)
    sends = sends_by_phone(rig, phase)
    rows = {row[0]: row for row in rig.sql(TURNS_SQL, workload.phase_prefix(phase) + "%")}
    replies = []
    for phone, ack in acks.items():
        got = sorted(sends.get(phone, []))
        texts = [text for _, text in got]
        row = rows.get(phone)
        replies.append(LeadReply(
            phone=phone, last_ack=ack, sends=tuple(t for t, _ in got), duplicate_sends=len(texts) - len(set(texts)),
            turns=int(row[1]) if row else 0, done_turns=int(row[2]) if row else 0, parts=int(row[3]) if row else 0,
            llm_ms=int(row[4]) if row and row[4] is not None else None,
            routed_at=float(row[5]) if row and row[5] is not None else None,
            started_at=float(row[6]) if row and row[6] is not None else None,
        ))
    return replies
