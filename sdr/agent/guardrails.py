"""Checks a generated reply before it can reach a lead, and cuts it into WhatsApp-sized parts.

A reply is rejected when it is empty or far too long; leaks the instructions (talk about a "system
prompt", or a verbatim run of the prompt that is not also business content the bot is meant to
say); quotes an R$ amount, a percentage, a date or a deadline found neither in the playbook, nor in
the knowledge given to the turn, nor in the lead's own words; denies being an AI, or fails to say
it is one when asked; names a competitor or a forbidden phrase of the playbook; or asks more than
one question. A reply slightly over the length limit is cut at a sentence end instead.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

LEAK_MARKERS = re.compile(
    r"system prompt|prompt do sistema|minhas instru[çc][õo]es|instru[çc][õo]es (do sistema|internas)"
    r"|as an ai language model|<\|?(system|im_start)|###\s*(system|instru)",
    re.IGNORECASE,
)
LEAK_RUN_WORDS = 8
SENTENCE_END = re.compile(r"[.!?…](?=\s|$)|\n")
PART_LIMIT = 600  # characters per WhatsApp bubble; longer paragraphs are cut at sentence ends

# Patterns run on folded text (lower case, no accents).
MONEY = re.compile(r"r\$\s*(\d[\d.,]*)(\s*mil\b)?|(\d[\d.,]*)(\s*mil)?\s*reais\b")
PERCENT = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:%|por\s*cento\b)")
MONTHS = "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro".split()
DATE = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/\d{2,4})?\b|\b(\d{1,2})\s+de\s+(" + "|".join(MONTHS) + r")\b")
DURATION = re.compile(r"\b(\d+)(?:\s*(?:a|e|ou|-|ate)\s*(\d+))?\s*(dias?|horas?|semanas?|mes|meses|anos?)\b")
UNITS = {"dia": "dia", "dias": "dia", "hora": "hora", "horas": "hora", "semana": "semana", "semanas": "semana",
         "mes": "mes", "meses": "mes", "ano": "ano", "anos": "ano"}
DENIES_AI = re.compile(
    r"(?<!nao )\bsou (?:uma |um )?(?:humana|humano|pessoa de verdade|pessoa real|gente de verdade)\b"
    r"|\bnao sou (?:uma |um )?(?:robo|bot|chatbot|ia|inteligencia artificial|assistente virtual|maquina|programa)\b"
    r"|\bde carne e osso\b|\b(?:esta|ta) falando com (?:uma |um )?(?:pessoa|humana|humano)\b"
)
OWNS_AI = re.compile(r"assistente (?:virtual|digital)|inteligencia artificial|\bia\b|\brobo\b|\bbot\b|chatbot"
                     r"|automatizad")
QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"|«[^»]*»")


@dataclass(frozen=True)
class Verdict:
    text: str
    outcome: str  # ok | trimmed, or why it was rejected: see REASONS


REASONS = {
    "empty": "a resposta veio vazia",
    "too_long": "a resposta ficou longa demais",
    "leak": "a resposta falou das instruções internas; nunca fale delas",
    "price": "a resposta citou um valor ou percentual que não está no catálogo nem na base de conhecimento",
    "date": "a resposta citou uma data ou prazo que não está no catálogo nem na base de conhecimento",
    "denies_ai": "a resposta negou ser uma IA; você é uma assistente virtual e nunca nega isso",
    "no_ai_disclosure": "o lead perguntou se fala com um robô e a resposta não disse que você é uma assistente "
                        "virtual",
    "competitor": "a resposta citou um concorrente",
    "forbidden_phrase": "a resposta usou uma expressão proibida pelo playbook",
    "questions": "a resposta fez mais de uma pergunta; faça no máximo uma",
}


@dataclass(frozen=True)
class ReplyFacts:
    """What one turn's reply is checked against."""

    prompt: str  # the instructions, which must not leak
    sayable: str  # business text it may repeat: catalog, questions, knowledge given to the turn
    max_chars: int
    lead_text: str = ""  # the lead's own words: echoing their numbers is not a promise
    competitors: tuple[str, ...] = ()
    forbidden_phrases: tuple[str, ...] = ()
    asks_if_ai: bool = False


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _runs(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + LEAK_RUN_WORDS]) for i in range(len(words) - LEAK_RUN_WORDS + 1)}


@functools.lru_cache(maxsize=64)
def _secret_runs(prompt: str, sayable: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_runs(prompt) - _runs(sayable))


def leaks(reply: str, prompt: str, sayable: str) -> bool:
    if LEAK_MARKERS.search(reply):
        return True
    return not _runs(reply).isdisjoint(_secret_runs(prompt, sayable))


def _number(raw: str, thousands: bool = False) -> str:
    raw = re.sub(r"[.,]\d{1,2}$", "", raw.rstrip(".,"))  # cents do not make a different price
    value = int(re.sub(r"\D", "", raw) or 0)
    return str(value * 1000 if thousands else value)


def amounts(text: str) -> set[str]:
    folded = fold(text)
    found = {_number(m.group(1) or m.group(3), bool(m.group(2) or m.group(4))) for m in MONEY.finditer(folded)}
    return found | {f"{float(m.group(1).replace(',', '.')):g}%" for m in PERCENT.finditer(folded)}


def dates(text: str) -> set[str]:
    folded = fold(text)
    found = set()
    for m in DATE.finditer(folded):
        day, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), str(MONTHS.index(m.group(4)) + 1))
        found.add(f"{int(day)}/{int(month)}")
    for m in DURATION.finditer(folded):
        unit = UNITS[m.group(3)]
        found.update(f"{int(n)} {unit}" for n in (m.group(1), m.group(2)) if n)
    return found


@functools.lru_cache(maxsize=64)
def _known(text: str) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(amounts(text)), frozenset(dates(text))


def _names(text: str, names: tuple[str, ...]) -> bool:
    folded = fold(text)
    return any(re.search(rf"(?<!\w){re.escape(fold(name))}(?!\w)", folded) for name in names)


def _questions(text: str) -> int:
    return len(re.findall(r"\?+", QUOTED.sub("", text)))


def rejection(text: str, facts: ReplyFacts) -> str | None:
    """Why `text` must not reach the lead, or None."""
    folded = fold(text)
    if leaks(text, facts.prompt, facts.sayable):
        return "leak"
    if DENIES_AI.search(folded):
        return "denies_ai"
    if facts.asks_if_ai and not OWNS_AI.search(folded):
        return "no_ai_disclosure"
    if _names(text, facts.competitors):
        return "competitor"
    if _names(text, facts.forbidden_phrases):
        return "forbidden_phrase"
    known_amounts, known_dates = _known(facts.sayable)
    lead_amounts, lead_dates = _known(facts.lead_text)
    if amounts(text) - known_amounts - lead_amounts:
        return "price"
    if dates(text) - known_dates - lead_dates:
        return "date"
    if _questions(text) > 1:
        return "questions"
    return None


def check_reply(reply: str, facts: ReplyFacts) -> Verdict:
    text = reply.strip()
    if not text:
        return Verdict("", "empty")
    reason = rejection(text, facts)
    if reason:
        return Verdict("", reason)
    if len(text) <= facts.max_chars:
        return Verdict(text, "ok")
    cut = _cut_at_sentence(text, facts.max_chars)
    if len(cut) >= facts.max_chars * 0.4:
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
