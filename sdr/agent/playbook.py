"""The playbook: everything about the business that the bot says or decides, from one YAML file.

Loaded once per process and validated at start-up; an error names the offending field, e.g.
"playbook solar.yaml: persona.name is required".
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class PlaybookError(ValueError):
    """The playbook file is missing, unreadable or has a bad field (named in the message)."""


@dataclass(frozen=True)
class Persona:
    name: str
    role: str
    tone: str
    language: str
    ai_disclosure: str  # "always": says it is a virtual assistant up front; "when_asked": never denies it


@dataclass(frozen=True)
class Product:
    name: str
    description: str
    price: str | None


@dataclass(frozen=True)
class Slot:
    name: str
    question: str


@dataclass(frozen=True)
class Playbook:
    business_name: str
    business_description: str
    persona: Persona
    products: tuple[Product, ...]
    stages: tuple[str, ...]
    slots: tuple[Slot, ...]
    do: tuple[str, ...]
    dont: tuple[str, ...]
    fallback_message: str
    max_reply_chars: int
    max_parts: int
    engagement_half_life_hours: float
    source: str


class _Reader:
    """Walks the YAML tree, raising errors that carry the dotted path of the field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, path: str, problem: str) -> PlaybookError:
        return PlaybookError(f"playbook {self.source}: {path} {problem}")

    def mapping(self, data: Any, path: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(path, "must be a mapping")
        return data

    def text(self, data: dict[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None:
            raise self.fail(f"{path}{key}", "is required")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{path}{key}", "must be a non-empty string")
        return value.strip()

    def texts(self, data: dict[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(f"{path}{key}", "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def number(self, data: dict[str, Any], key: str, path: str, default: float, minimum: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise self.fail(f"{path}{key}", f"must be a number of at least {minimum}")
        return float(value)

    def items(self, data: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        value = data.get(key)
        if not isinstance(value, list) or not value:
            raise self.fail(f"{path}{key}", "must be a non-empty list")
        return [(f"{path}{key}[{i}].", self.mapping(item, f"{path}{key}[{i}]")) for i, item in enumerate(value)]


def parse_playbook(data: Any, source: str) -> Playbook:
    r = _Reader(source)
    root = r.mapping(data, "top level")
    business = r.mapping(root.get("business"), "business")
    persona = r.mapping(root.get("persona"), "persona")
    disclosure = persona.get("ai_disclosure", "always")
    if disclosure not in ("always", "when_asked"):
        raise r.fail("persona.ai_disclosure", "must be 'always' or 'when_asked'")
    products = tuple(
        Product(r.text(p, "name", path), r.text(p, "description", path), p.get("price") and r.text(p, "price", path))
        for path, p in r.items(root, "products", "")
    )
    qualification = r.mapping(root.get("qualification"), "qualification")
    slots = tuple(Slot(r.text(s, "name", path), r.text(s, "question", path))
                  for path, s in r.items(qualification, "slots", "qualification."))
    guidelines = r.mapping(root.get("guidelines", {}), "guidelines")
    reply = r.mapping(root.get("reply", {}), "reply")
    temperature = r.mapping(root.get("temperature", {}), "temperature")
    stages = r.texts(root, "stages", "")
    if not stages:
        raise r.fail("stages", "must list at least one stage")
    return Playbook(
        business_name=r.text(business, "name", "business."),
        business_description=r.text(business, "description", "business."),
        persona=Persona(
            name=r.text(persona, "name", "persona."),
            role=r.text(persona, "role", "persona."),
            tone=r.text(persona, "tone", "persona."),
            language=r.text(persona, "language", "persona.", default="pt-BR"),
            ai_disclosure=disclosure,
        ),
        products=products,
        stages=stages,
        slots=slots,
        do=r.texts(guidelines, "do", "guidelines."),
        dont=r.texts(guidelines, "dont", "guidelines."),
        fallback_message=r.text(root, "fallback_message", ""),
        max_reply_chars=int(r.number(reply, "max_chars", "reply.", 700, 80)),
        max_parts=int(r.number(reply, "max_parts", "reply.", 3, 1)),
        engagement_half_life_hours=r.number(temperature, "engagement_half_life_hours", "temperature.", 72, 1),
        source=source,
    )


def load_playbook(path: Path) -> Playbook:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaybookError(f"playbook {path}: file not found (set SDR_PLAYBOOK)") from None
    except (OSError, yaml.YAMLError) as exc:
        raise PlaybookError(f"playbook {path}: cannot be read: {exc}") from None
    return parse_playbook(data, path.name)


@functools.cache
def cached_playbook(path: Path) -> Playbook:
    """The playbook for this process; the file is read once."""
    return load_playbook(path)
