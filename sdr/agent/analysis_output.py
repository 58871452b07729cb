"""Reading the analysis model's raw output into checked field values, repairing what can be repaired.

Repairs are the mechanical slips models make: a JSON object wrapped in a code fence or in prose, a
missing optional field, a score out of range or written as a string, an enum in the wrong case, a
boolean written as "true", a slot without evidence from the lead. Each repair is listed so the turn
records it. What cannot be repaired (no JSON object, or no usable stage, intent, opt-out or handoff
decision, which a default would silently decide for the lead) raises `Unusable`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

FENCE = re.compile(r"^```[a-zA-Z]*\s*(.*?)\s*```$", re.DOTALL)
ESSENTIAL = ("stage", "intent", "opt_out", "handoff_requested")
TRUE_WORDS, FALSE_WORDS = ("true", "sim", "yes"), ("false", "nao", "no")
EVIDENCE_OVERLAP = 0.6  # share of the evidence's words that must come from the lead's own messages


class Unusable(ValueError):
    """The output cannot stand for an analysis; the message says why (for the retry and the record)."""


def load_object(content: str, repairs: list[str]) -> dict[str, Any]:
    text = content.strip()
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1)
        repairs.append("code fence removed")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise Unusable("the output is not JSON") from None
        try:
            data = json.loads(text[start:end + 1])
        except json.JSONDecodeError as exc:
            raise Unusable(f"the output is not JSON ({exc.msg})") from None
        repairs.append("text around the JSON object removed")
    if not isinstance(data, dict):
        raise Unusable("the output is not an object")
    return data


class Fields:
    """Typed reads of one output object; optional fields fall back to defaults, noting the repair."""

    def __init__(self, data: dict[str, Any], repairs: list[str]):
        self.data = data
        self.repairs = repairs

    def _missing(self, key: str, value: Any, default: Any, why: str) -> Any:
        if key in ESSENTIAL:
            raise Unusable(f"{key}={repr(value)[:40]} {why}")
        self.repairs.append(f"{key} {'missing' if value is None else 'invalid'}, set to {default!r}")
        return default

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        value = self.data.get(key)
        if value in allowed:
            return str(value)
        if isinstance(value, str):
            for option in allowed:
                if fold(option) == fold(value):
                    self.repairs.append(f"{key} {value!r} read as {option!r}")
                    return option
        return self._missing(key, value, default, f"is not one of {', '.join(allowed)}")

    def flag(self, key: str) -> bool:
        value = self.data.get(key)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and fold(value) in TRUE_WORDS + FALSE_WORDS:
            self.repairs.append(f"{key} {value!r} read as a boolean")
            return fold(value) in TRUE_WORDS
        return self._missing(key, value, False, "must be true or false")

    def score(self, key: str) -> int:
        value = self.data.get(key)
        if isinstance(value, str):
            try:
                value = float(value.strip().rstrip("%"))
            except ValueError:
                return self._missing(key, value, 0, "must be a number")
            self.repairs.append(f"{key} {self.data[key]!r} read as a number")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self._missing(key, value, 0, "must be a number")
        clamped = int(round(min(100.0, max(0.0, float(value)))))
        if clamped != value:
            self.repairs.append(f"{key} {value!r} clamped to {clamped}")
        return clamped

    def text(self, key: str, limit: int) -> str:
        value = self.data.get(key)
        if value is None:
            self.repairs.append(f"{key} missing, left empty")
            return ""
        return str(value)[:limit]

    def texts(self, key: str, limit: int) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if isinstance(value, str):
            value = [value] if value.strip() else []
        if not isinstance(value, list):
            self.repairs.append(f"{key} invalid, left empty")
            return ()
        return tuple(str(item)[:limit] for item in value if item not in (None, ""))

    def slots(self, known: set[str], lead_words: set[str]) -> list[tuple[str, str, str]]:
        value = self.data.get("slots", [])
        if not isinstance(value, list):
            self.repairs.append("slots invalid, left empty")
            return []
        found = []
        for item in value:
            if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("name", "value")):
                self.repairs.append("a malformed slot dropped")
                continue
            if item["name"] not in known:
                continue  # a slot this playbook does not ask about
            evidence = item.get("evidence")
            if not isinstance(evidence, str) or not _said_by_lead(evidence, lead_words):
                self.repairs.append(f"slot {item['name']} dropped: its evidence is not in the lead's words")
                continue
            found.append((item["name"], item["value"][:300], evidence[:300]))
        return found


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"\w+", fold(text)) if len(w) > 2 or w.isdigit()}


def _said_by_lead(evidence: str, lead_words: set[str]) -> bool:
    quoted = words(evidence)
    if not quoted:
        return False
    return len(quoted & lead_words) / len(quoted) >= EVIDENCE_OVERLAP
