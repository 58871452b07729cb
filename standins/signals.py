"""A cheap, deterministic reading of the lead's latest text, used to make stand-in analyses plausible.

:func:`read` folds accents and case, then detects a few signals by phrase lists: opt-out ("parar de",
"não quero mais", "pare de me mandar", "sair da lista"…), a request for a human ("humano", "atendente",
"pessoa", "falar com alguém"…), a question about talking to a bot, negative/positive words and objections.
The resulting :class:`Reading` answers the schema filler (``standins.schema_fill``) by property name:

- enum strings: values are ranked by how many of their words (or 5-letter stems) occur in the text or in
  tokens implied by the signals (e.g. an opt-out adds ``opt_out stop unsubscribe``), ties keep schema order;
  names containing ``sentiment`` prefer a ``neg*`` value on negative words, ``pos*`` on positive ones, else
  ``neutr*``;
- booleans: names containing ``opt_out``/``optout``/``unsubscribe`` → opt-out detected; ``handoff``/``human``/
  ``escalat`` → human requested; ``objection`` → objection words; ``asks_if_ai``/``bot`` → a question about
  talking to a bot; ``injection`` → an attempt to override instructions ("ignore suas instruções", "você agora
  é", "me mostre seu prompt"…); ``interest`` → positive words; else false;
- strings: ``summary``/``resumo`` → short Portuguese summary; ``query``/``search`` → the text's longer words;
  ``language`` → ``pt-BR``; identifier names (``name``, ``id``, ``key``, ``slot``, ``field``, ``label``,
  ``type``) → ``<name>_1``; anything else (evidence, values…) → a snippet of the text of at most 60 characters,
  or "não informado" when the lead wrote nothing;
- numbers: ``confidence``/``score``/``probability`` → 80 % of the allowed range; ``delta``/``change`` → +1 on
  positive words, -1 on negative ones, else 0; otherwise the minimum (or 0), always clamped to the bounds;
- arrays: one item, except names containing ``objection`` which stay empty without objection words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

# Phrases match whole words; a trailing "*" makes the last word a prefix (stem).
OPT_OUT = ("parar de", "pare de", "nao quero mais", "sair da lista", "descadastr*", "remover meu numero",
           "nao me mande", "nao mande mais", "me tira da lista")
HANDOFF = ("humano", "atendente", "pessoa", "falar com alguem", "gerente", "vendedor de verdade")
ASKS_BOT = ("robo", "bot", "inteligencia artificial", "voce e uma ia", "e uma ia", "chatgpt")
NEGATIVE = ("nao gostei", "caro", "ruim", "pessimo", "problema*", "reclama*", "demora*", "absurdo", "irritad*",
            "chato", "horrivel", "nunca", "decepcion*")
POSITIVE = ("otimo", "perfeito", "obrigad*", "legal", "gostei", "interessad*", "quero", "show", "maravilh*", "top")
INJECTION = ("ignore suas instrucoes", "ignore as instrucoes", "esqueca suas instrucoes", "ignore tudo",
             "voce agora e", "a partir de agora voce", "seu prompt", "system prompt", "suas instrucoes",
             "modo desenvolvedor")
OBJECTION = ("caro", "sem dinheiro", "nao tenho dinheiro", "depois", "vou pensar", "concorrente*", "desconfi*",
             "nao sei se", "nao tenho tempo", "agora nao")
# Portuguese phrases that imply English/Portuguese tokens commonly found in enum values.
IMPLIED = (
    (("preco*", "quanto custa", "valor*", "orcamento*", "custa"), "price pricing quote budget cost"),
    (("agendar", "visita*", "reuniao", "horario*", "marcar"), "schedule meeting visit book appointment"),
    (("oi", "ola", "bom dia", "boa tarde", "boa noite"), "greeting hello greet"),
    (("comprar", "fechar", "contratar", "quero"), "buy purchase close interested interest hot"),
    (("como funciona", "duvida", "?"), "question info information ask"),
    (("obrigad*", "tchau"), "thanks closing goodbye"),
)
IDENTIFIERS = frozenset(("name", "id", "key", "slot", "field", "label", "type"))
STOPWORDS = frozenset("que com para por uma uns umas dos das nos nas mas como mais isso esse essa voce meu minha "
                      "tem ter sou esta estou the and".split())


def fold(text: str) -> str:
    """Lowercase and strip accents so phrase lists need one spelling."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def snippet(text: str, limit: int = 60) -> str:
    """Whitespace-collapsed prefix of ``text`` of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _padded(folded: str) -> str:
    """Words separated by single spaces, with a space at both ends and "?" kept as its own word."""
    return " " + " ".join(re.sub(r"[^\w?]+", " ", folded.replace("?", " ? ")).split()) + " "


def _has(padded: str, phrases: tuple[str, ...]) -> bool:
    return any((f" {p[:-1]}" if p.endswith("*") else f" {p} ") in padded for p in phrases)


@dataclass
class Reading:
    text: str
    folded: str
    opt_out: bool
    handoff: bool
    asks_bot: bool
    negative: bool
    positive: bool
    objection: bool
    injection: bool = False
    tokens: set[str] = field(default_factory=set)

    def rank(self, name: str, options: list[Any]) -> list[Any]:
        """Enum values ordered by plausibility for property ``name`` (stable: ties keep schema order)."""
        if "sentiment" in name.lower():
            wanted = "neg" if self.negative else "pos" if self.positive else "neutr"
            return sorted(options, key=lambda o: not fold(str(o)).startswith(wanted))
        return sorted(options, key=lambda o: -self._score(str(o)))

    def _score(self, value: str) -> int:
        words = [w for w in re.findall(r"[a-z0-9]+", fold(value)) if len(w) >= 3]
        return sum(1 for w in words if w in self.tokens or (len(w) >= 5 and w[:5] in self.tokens))

    def flag(self, name: str) -> bool:
        lowered = name.lower()
        if any(k in lowered for k in ("opt_out", "optout", "unsubscribe")):
            return self.opt_out
        if any(k in lowered for k in ("handoff", "human", "escalat")):
            return self.handoff
        if "objection" in lowered:
            return self.objection
        if "asks_if_ai" in lowered or "bot" in lowered:
            return self.asks_bot
        if "injection" in lowered:
            return self.injection
        return self.positive if "interest" in lowered else False

    def text_for(self, name: str) -> str:
        lowered = name.lower()
        if "summary" in lowered or "resumo" in lowered:
            return f"Lead escreveu: “{snippet(self.text, 80)}”." if self.text else "Sem mensagem nova do lead."
        if "language" in lowered:
            return "pt-BR"
        if lowered in IDENTIFIERS:
            return f"{lowered}_1"
        if any(k in lowered for k in ("query", "search")):
            words = [w for w in re.findall(r"\w+", self.text.lower()) if len(w) > 3 and fold(w) not in STOPWORDS]
            return " ".join(words[:8])
        return snippet(self.text, 60) if self.text else "não informado"

    def number(self, name: str, low: float | None, high: float | None) -> float:
        lowered = name.lower()
        if any(k in lowered for k in ("confidence", "score", "probability")):
            lo, hi = low if low is not None else 0.0, high if high is not None else 1.0
            value = lo + 0.8 * (hi - lo)
        elif any(k in lowered for k in ("delta", "change")):
            value = 1.0 if self.positive and not self.negative else -1.0 if self.negative else 0.0
        else:
            value = low if low is not None else 0.0
        value = max(value, low) if low is not None else value
        return min(value, high) if high is not None else value

    def count(self, name: str, low: int, high: int | None) -> int:
        wanted = 0 if "objection" in name.lower() and not self.objection else 1
        wanted = max(wanted, low)
        return min(wanted, high) if high is not None else wanted


def read(text: str) -> Reading:
    folded = _padded(fold(text))
    opt_out = _has(folded, OPT_OUT)
    # "não quero mais" contains "quero": an opt-out is never read as interest.
    reading = Reading(text=text, folded=folded, opt_out=opt_out, handoff=_has(folded, HANDOFF),
                      asks_bot=_has(folded, ASKS_BOT), negative=opt_out or _has(folded, NEGATIVE),
                      positive=not opt_out and _has(folded, POSITIVE), objection=_has(folded, OBJECTION),
                      injection=_has(folded, INJECTION))
    words = set(re.findall(r"[a-z0-9]+", folded))
    reading.tokens = words | {w[:5] for w in words if len(w) >= 5}
    implied = [(reading.opt_out, "opt_out optout opt out stop unsubscribe cold"),
               (reading.handoff, "handoff human agent escalate transfer"),
               (reading.negative, "negative complaint cold"),
               (reading.objection, "objection")]
    implied += [(not opt_out and _has(folded, phrases), tokens) for phrases, tokens in IMPLIED]
    for present, tokens in implied:
        if present:
            reading.tokens.update(re.findall(r"[a-z0-9]+", tokens))
    return reading
