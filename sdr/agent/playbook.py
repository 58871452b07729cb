"""The playbook: everything about the business that the bot says or decides, from one YAML file.

Loaded once per process and validated at start-up; an error names the offending field, e.g.
"playbook staffing.yaml: qualification.slots[2].question is required". Each top-level section has
its own frozen dataclass and its own `parse_<section>` function; `parse_playbook` only calls them
in turn, so a new section is one dataclass, one parser and one line there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from sdr.agent.fields import Node, PlaybookError, Reader, suggest
from sdr.business_hours import BusinessHours, parse_hours

__all__ = ["Playbook", "PlaybookError", "load_playbook", "parse_playbook", "cached_playbook"]

METHODS = ("BANT", "SPIN")
DISCLOSURE = ("always", "when_asked")


@dataclass(frozen=True)
class Company:
    name: str
    description: str
    website: str | None
    service_area: str | None


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
    filled_when: str  # what answer counts as filling it, for the analysis


@dataclass(frozen=True)
class Qualification:
    method: str  # BANT | SPIN
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class Stage:
    name: str
    entry: str  # what must be true of the lead to be in this stage, for the analysis
    next: tuple[str, ...]  # stages a lead may move to from here


@dataclass(frozen=True)
class Guidelines:
    do: tuple[str, ...]
    dont: tuple[str, ...]
    competitors: tuple[str, ...]  # never named in a reply
    forbidden_phrases: tuple[str, ...]  # never said in a reply (case- and accent-insensitive)


@dataclass(frozen=True)
class FollowUpStep:
    after: timedelta  # since the lead's last message
    intent: str


@dataclass(frozen=True)
class FollowUp:
    steps: tuple[FollowUpStep, ...]
    business_hours_only: bool


@dataclass(frozen=True)
class ReplyRules:
    max_chars: int
    max_parts: int
    fallback_message: str


@dataclass(frozen=True)
class Temperature:
    engagement_half_life_hours: float


@dataclass(frozen=True)
class Playbook:
    company: Company
    persona: Persona
    products: tuple[Product, ...]
    qualification: Qualification
    stages: tuple[Stage, ...]
    guidelines: Guidelines
    follow_up: FollowUp
    hours: BusinessHours
    reply: ReplyRules
    temperature: Temperature
    source: str

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.stages)

    def stage(self, name: str | None) -> Stage:
        """The named stage, or the first one for a lead with no (or an unknown) stage."""
        return next((s for s in self.stages if s.name == name), self.stages[0])

    def allowed_next(self, current: str | None) -> tuple[str, ...]:
        stage = self.stage(current)
        return (stage.name, *stage.next)

    @property
    def slots(self) -> tuple[Slot, ...]:
        return self.qualification.slots

    @property
    def business_name(self) -> str:
        return self.company.name

    @property
    def fallback_message(self) -> str:
        return self.reply.fallback_message

    @property
    def max_reply_chars(self) -> int:
        return self.reply.max_chars

    @property
    def max_parts(self) -> int:
        return self.reply.max_parts

    @property
    def engagement_half_life_hours(self) -> float:
        return self.temperature.engagement_half_life_hours


def parse_company(r: Reader, root: Node) -> Company:
    node = r.section(root, "company")
    return Company(r.text(node, "name"), r.text(node, "description"),
                   r.optional_text(node, "website"), r.optional_text(node, "service_area"))


def parse_persona(r: Reader, root: Node) -> Persona:
    node = r.section(root, "persona")
    return Persona(
        name=r.text(node, "name"),
        role=r.text(node, "role"),
        tone=r.text(node, "tone"),
        language=r.text(node, "language", default="pt-BR"),
        ai_disclosure=r.choice(node, "ai_disclosure", DISCLOSURE, default="always"),
    )


def parse_products(r: Reader, root: Node) -> tuple[Product, ...]:
    return tuple(Product(r.text(p, "name"), r.text(p, "description"), r.optional_text(p, "price"))
                 for p in r.items(root, "products"))


def parse_qualification(r: Reader, root: Node) -> Qualification:
    node = r.section(root, "qualification")
    method = r.choice(node, "method", METHODS)
    slots = tuple(Slot(r.text(s, "name"), r.text(s, "question"), r.text(s, "filled_when"))
                  for s in r.items(node, "slots"))
    _unique(r, [s.name for s in slots], "qualification.slots")
    return Qualification(method, slots)


def parse_stages(r: Reader, root: Node) -> tuple[Stage, ...]:
    nodes = r.items(root, "stages")
    names = [r.text(n, "name") for n in nodes]
    _unique(r, names, "stages")
    stages = []
    for index, node in enumerate(nodes):
        following = (names[index + 1],) if index + 1 < len(names) else ()
        moves = r.texts(node, "next") if node.has("next") else following
        for target in moves:
            if target not in names:
                raise r.fail(node.at("next"), f"names unknown stage '{target}'{suggest(target, names)}")
        stages.append(Stage(names[index], r.text(node, "entry"), moves))
    return tuple(stages)


def parse_guidelines(r: Reader, root: Node) -> Guidelines:
    node = r.section(root, "guidelines", required=False)
    return Guidelines(r.texts(node, "do"), r.texts(node, "dont"), r.texts(node, "competitors"),
                      r.texts(node, "forbidden_phrases"))


DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d)\s*$")
DURATION_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days"}


def parse_follow_up(r: Reader, root: Node) -> FollowUp:
    node = r.section(root, "follow_up", required=False)
    steps = []
    for step in r.items(node, "steps", required=False):
        raw = step.get("after")
        match = DURATION.match(raw) if isinstance(raw, str) else None
        if match is None or int(match.group(1)) == 0:
            raise r.fail(step.at("after"), "must be a positive duration like '30m', '4h' or '2d'")
        after = timedelta(**{DURATION_UNITS[match.group(2)]: int(match.group(1))})
        if steps and after <= steps[-1].after:
            raise r.fail(step.at("after"), "must be later than the previous step")
        steps.append(FollowUpStep(after, r.text(step, "intent")))
    return FollowUp(tuple(steps), r.flag(node, "business_hours_only", True))


def parse_reply(r: Reader, root: Node) -> ReplyRules:
    node = r.section(root, "reply", required=False)
    return ReplyRules(int(r.number(node, "max_chars", 700, 80)), int(r.number(node, "max_parts", 3, 1)),
                      r.text(root, "fallback_message"))


def parse_temperature(r: Reader, root: Node) -> Temperature:
    node = r.section(root, "temperature", required=False)
    return Temperature(r.number(node, "engagement_half_life_hours", 72, 1))


def _unique(r: Reader, names: list[str], path: str) -> None:
    seen = [name for index, name in enumerate(names) if name in names[:index]]
    if seen:
        raise r.fail(path, f"repeats the name '{seen[0]}'")


def parse_playbook(data: Any, source: str) -> Playbook:
    r = Reader(source)
    root = r.root(data)
    playbook = Playbook(
        company=parse_company(r, root),
        persona=parse_persona(r, root),
        products=parse_products(r, root),
        qualification=parse_qualification(r, root),
        stages=parse_stages(r, root),
        guidelines=parse_guidelines(r, root),
        follow_up=parse_follow_up(r, root),
        hours=parse_hours(r, root),
        reply=parse_reply(r, root),
        temperature=parse_temperature(r, root),
        source=source,
    )
    r.check_unknown()
    return playbook


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
