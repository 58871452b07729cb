"""Checks a generated reply before it can reach a lead, and cuts it into WhatsApp-sized parts.

A reply is rejected when it is empty, far too long, or leaks the instructions: talk about a
"system prompt", or a verbatim run of the prompt that is not also business content the bot is
meant to say (catalog, qualification questions, its own introduction). A reply slightly over
the length limit is cut at a sentence end instead of being thrown away.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

LEAK_MARKERS = re.compile(
    r"system prompt|prompt do sistema|minhas instru[çc][õo]es|instru[çc][õo]es (do sistema|internas)"
    r"|as an ai language model|<\|?(system|im_start)|###\s*(system|instru)",
    re.IGNORECASE,
)
LEAK_RUN_WORDS = 8
SENTENCE_END = re.compile(r"[.!?…](?=\s|$)|\n")
PART_LIMIT = 600  # characters per WhatsApp bubble; longer paragraphs are cut at sentence ends


@dataclass(frozen=True)
class Verdict:
    text: str
    outcome: str  # ok | trimmed | empty | too_long | leak


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _runs(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + LEAK_RUN_WORDS]) for i in range(len(words) - LEAK_RUN_WORDS + 1)}


@functools.cache
def _secret_runs(prompt: str, sayable: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_runs(prompt) - _runs(sayable))


def leaks(reply: str, prompt: str, sayable: str) -> bool:
    if LEAK_MARKERS.search(reply):
        return True
    return not _runs(reply).isdisjoint(_secret_runs(prompt, sayable))


def check_reply(reply: str, prompt: str, sayable: str, max_chars: int) -> Verdict:
    text = reply.strip()
    if not text:
        return Verdict("", "empty")
    if leaks(text, prompt, sayable):
        return Verdict("", "leak")
    if len(text) <= max_chars:
        return Verdict(text, "ok")
    cut = _cut_at_sentence(text, max_chars)
    if len(cut) >= max_chars * 0.4:
        return Verdict(cut, "trimmed")
    return Verdict("", "too_long")


def _cut_at_sentence(text: str, limit: int) -> str:
    ends = [m.end() for m in SENTENCE_END.finditer(text) if m.end() <= limit]
    return text[: ends[-1]].strip() if ends else ""


def split_parts(text: str, max_parts: int, part_limit: int = PART_LIMIT) -> list[str]:
    """Paragraphs become bubbles; long ones are cut at sentence ends; extra ones join the last."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        paragraph = paragraph.strip()
        while len(paragraph) > part_limit:
            head = _cut_at_sentence(paragraph, part_limit) or paragraph[:part_limit]
            pieces.append(head)
            paragraph = paragraph[len(head):].strip()
        if paragraph:
            pieces.append(paragraph)
    if len(pieces) > max_parts:
        pieces = pieces[: max_parts - 1] + ["\n\n".join(pieces[max_parts - 1:])]
    return pieces
