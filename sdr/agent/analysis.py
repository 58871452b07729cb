"""The situation analysis: one structured (JSON-schema) model call per turn.

Its result drives the state update and is handed to the reply call unchanged. Output that does
not fit the schema never crashes a turn: it is replaced by a safe default and marked invalid.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from typing import Any

import openai

from sdr.agent.context import TurnContext
from sdr.agent.playbook import Playbook
from sdr.agent.prompts import analysis_prefix, lead_state, transcript
from sdr.llm import Completion, complete

INTENTS = ("greeting", "question", "buying_signal", "objection", "small_talk", "opt_out", "wants_human", "other")
SENTIMENTS = ("positive", "neutral", "negative")
TEMPERATURE_CHANGES = ("warmer", "same", "colder")
NEXT_ACTIONS = ("answer_question", "ask_qualification", "present_offer", "schedule_visit",
                "handle_objection", "handoff", "close")
ENGAGEMENT_DELTA = {"warmer": 0.2, "same": 0.05, "colder": -0.1}


@dataclass(frozen=True)
class SlotValue:
    name: str
    value: str
    evidence: str


@dataclass(frozen=True)
class Analysis:
    stage: str
    intent: str
    sentiment: str
    temperature_change: str
    opt_out: bool
    handoff_requested: bool
    next_action: str
    knowledge_query: str
    summary: str
    slots: tuple[SlotValue, ...] = ()
    fit_score: int = 0  # 0-100: how well the lead matches what the business sells
    fit_reason: str = ""
    engagement_score: int = 0  # 0-100: how engaged the lead is in this conversation now
    engagement_reason: str = ""
    asks_if_ai: bool = False  # the lead asks whether they are talking to a bot
    handoff_reason: str = ""
    objections: tuple[str, ...] = ()
    valid: bool = True  # False when this is the safe default standing in for unusable output
    problem: str | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Analysis":
        slots = tuple(SlotValue(**s) for s in data.get("slots", ()))
        return cls(**{**data, "slots": slots, "objections": tuple(data.get("objections", ()))})

    @property
    def engagement_delta(self) -> float:
        return ENGAGEMENT_DELTA.get(self.temperature_change, 0.0)


@functools.cache
def analysis_schema(playbook: Playbook) -> dict[str, Any]:
    def enum(values: tuple[str, ...]) -> dict[str, Any]:
        return {"type": "string", "enum": list(values)}

    slot = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "value", "evidence"],
        "properties": {"name": enum(tuple(s.name for s in playbook.slots)),
                       "value": {"type": "string"}, "evidence": {"type": "string"}},
    }
    properties = {
        "stage": enum(playbook.stage_names),
        "slots": {"type": "array", "items": slot},
        "intent": enum(INTENTS),
        "objections": {"type": "array", "items": {"type": "string"}},
        "sentiment": enum(SENTIMENTS),
        "temperature_change": enum(TEMPERATURE_CHANGES),
        "opt_out": {"type": "boolean"},
        "handoff_requested": {"type": "boolean"},
        "next_action": enum(NEXT_ACTIONS),
        "knowledge_query": {"type": "string"},
        "summary": {"type": "string"},
        "fit_score": {"type": "integer", "minimum": 0, "maximum": 100},
        "fit_reason": {"type": "string"},
        "engagement_score": {"type": "integer", "minimum": 0, "maximum": 100},
        "engagement_reason": {"type": "string"},
        "asks_if_ai": {"type": "boolean"},
        "handoff_reason": {"type": "string"},
    }
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def response_format(playbook: Playbook) -> dict[str, Any]:
    return {"type": "json_schema",
            "json_schema": {"name": "turn_analysis", "strict": True, "schema": analysis_schema(playbook)}}


def analysis_messages(playbook: Playbook, ctx: TurnContext) -> list[dict[str, Any]]:
    context = f"{lead_state(ctx)}\n\nHistórico anterior:\n{transcript(ctx.earlier)}"
    new = "\n".join(item.render() for item in ctx.pending)
    return [
        {"role": "system", "content": analysis_prefix(playbook)},
        {"role": "system", "content": context},
        {"role": "user", "content": f"Mensagens novas do lead:\n{new}"},
    ]


def default_analysis(playbook: Playbook, ctx: TurnContext, problem: str) -> Analysis:
    last = ctx.pending[-1].render() if ctx.pending else ""
    return Analysis(
        stage=playbook.stage(ctx.stage).name,
        intent="other", sentiment="neutral", temperature_change="same", opt_out=False,
        handoff_requested=False, next_action="answer_question", knowledge_query=last[:200],
        summary="", valid=False, problem=problem,
    )


def parse_analysis(content: str, playbook: Playbook, ctx: TurnContext) -> Analysis:
    try:
        data = json.loads(content)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        slots = tuple(SlotValue(str(s["name"]), str(s["value"]), str(s["evidence"]))
                      for s in data.get("slots", []) if s.get("name") in {x.name for x in playbook.slots})
        analysis = Analysis(
            stage=_choice(data, "stage", playbook.stage_names),
            intent=_choice(data, "intent", INTENTS),
            sentiment=_choice(data, "sentiment", SENTIMENTS),
            temperature_change=_choice(data, "temperature_change", TEMPERATURE_CHANGES),
            opt_out=_flag(data, "opt_out"),
            handoff_requested=_flag(data, "handoff_requested"),
            next_action=_choice(data, "next_action", NEXT_ACTIONS),
            knowledge_query=str(data.get("knowledge_query", ""))[:300],
            summary=str(data.get("summary", ""))[:1000],
            slots=slots,
            objections=tuple(str(o)[:200] for o in data.get("objections", [])),
            fit_score=_score(data, "fit_score"),
            fit_reason=str(data.get("fit_reason", ""))[:300],
            engagement_score=_score(data, "engagement_score"),
            engagement_reason=str(data.get("engagement_reason", ""))[:300],
            asks_if_ai=_flag(data, "asks_if_ai"),
            handoff_reason=str(data.get("handoff_reason", ""))[:300],
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return default_analysis(playbook, ctx, f"unusable analysis output: {exc}")
    return analysis


def _choice(data: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = data.get(key)
    if value not in allowed:
        raise ValueError(f"{key}={value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _score(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ValueError(f"{key} must be a number from 0 to 100")
    return int(value)


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def analyze(client: openai.OpenAI, model: str, playbook: Playbook, ctx: TurnContext) -> tuple[Analysis, Completion]:
    """Make the turn's single analysis call; transport errors propagate (LLMError)."""
    completion = complete(client, model, analysis_messages(playbook, ctx), response_format(playbook))
    return parse_analysis(completion.content, playbook, ctx), completion
