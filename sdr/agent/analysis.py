"""The situation analysis: one structured (JSON-schema) model call per turn.

Its result drives the state update and is handed to the reply call unchanged. Output that does
not fit the schema never crashes a turn: mechanical slips are repaired (and listed); output that
cannot be repaired is asked for again once, with the reason; if that fails too, a safe default
marked invalid stands in. A stage the playbook does not allow from the lead's current stage is
corrected back to the current one.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import openai

from sdr.agent.analysis_output import Fields, Unusable, load_object, words
from sdr.agent.context import TurnContext
from sdr.agent.playbook import Playbook
from sdr.agent.prompts import analysis_prefix, analysis_state, chat_history, lead_data
from sdr.llm import Completion, LLMError, complete

log = logging.getLogger(__name__)

INTENTS = ("greeting", "question", "buying_signal", "objection", "small_talk", "opt_out", "wants_human", "other")
SENTIMENTS = ("positive", "neutral", "negative")
TEMPERATURE_CHANGES = ("warmer", "same", "colder")
NEXT_ACTIONS = ("answer_question", "ask_qualification", "present_offer", "schedule_visit",
                "handle_objection", "handoff", "close")
ENGAGEMENT_DELTA = {"warmer": 0.2, "same": 0.05, "colder": -0.1}
RETRY_NOTE = ("Sua resposta anterior não pôde ser usada: {problem}. Responda de novo apenas com o objeto JSON "
              "do esquema pedido, sem texto antes ou depois.")


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
    injection_attempt: bool = False  # the lead tried to change the bot's rules or see its instructions
    valid: bool = True  # False when this is the safe default standing in for unusable output
    problem: str | None = field(default=None, compare=False)
    attempts: int = field(default=1, compare=False)  # model calls made: 2 when the output was asked for again
    repairs: tuple[str, ...] = field(default=(), compare=False)  # slips fixed in the output that was used
    stage_corrected_from: str | None = None  # the stage the model proposed, when the playbook did not allow it

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Analysis":
        slots = tuple(SlotValue(**s) for s in data.get("slots", ()))
        return cls(**{**data, "slots": slots, "objections": tuple(data.get("objections", ())),
                      "repairs": tuple(data.get("repairs", ()))})

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
        "injection_attempt": {"type": "boolean"},
    }
    return {"type": "object", "additionalProperties": False, "required": list(properties), "properties": properties}


def response_format(playbook: Playbook) -> dict[str, Any]:
    return {"type": "json_schema",
            "json_schema": {"name": "turn_analysis", "strict": True, "schema": analysis_schema(playbook)}}


def analysis_messages(playbook: Playbook, ctx: TurnContext) -> list[dict[str, Any]]:
    """Stable prefix, then this turn's state (ours), then what the lead wrote, only ever as user content."""
    new = "\n".join(item.render() for item in ctx.pending)
    data = lead_data(ctx)
    return [
        {"role": "system", "content": analysis_prefix(playbook)},
        {"role": "system", "content": analysis_state(playbook, ctx)},
        *([{"role": "user", "content": data}] if data else []),
        *chat_history(ctx.earlier),
        {"role": "user", "content": f"Mensagens novas do lead:\n{new}"},
    ]


def default_analysis(playbook: Playbook, ctx: TurnContext, problem: str, attempts: int = 1) -> Analysis:
    last = ctx.pending[-1].render() if ctx.pending else ""
    return Analysis(
        stage=playbook.stage(ctx.stage).name,
        intent="other", sentiment="neutral", temperature_change="same", opt_out=False,
        handoff_requested=False, next_action="answer_question", knowledge_query=last[:200],
        summary="", valid=False, problem=problem, attempts=attempts,
    )


def read_analysis(content: str, playbook: Playbook, ctx: TurnContext) -> Analysis:
    """The output as an Analysis, repaired where mechanical; raises Unusable otherwise."""
    repairs: list[str] = []
    f = Fields(load_object(content, repairs), repairs)
    lead_words = set().union(*(words(item.render()) for item in ctx.history if item.author == "lead"))
    analysis = Analysis(
        stage=f.choice("stage", playbook.stage_names),
        intent=f.choice("intent", INTENTS),
        sentiment=f.choice("sentiment", SENTIMENTS, "neutral"),
        temperature_change=f.choice("temperature_change", TEMPERATURE_CHANGES, "same"),
        opt_out=f.flag("opt_out"),
        handoff_requested=f.flag("handoff_requested"),
        next_action=f.choice("next_action", NEXT_ACTIONS, "answer_question"),
        knowledge_query=f.text("knowledge_query", 300),
        summary=f.text("summary", 1000),
        slots=tuple(SlotValue(*s) for s in f.slots({s.name for s in playbook.slots}, lead_words)),
        objections=f.texts("objections", 200),
        fit_score=f.score("fit_score"),
        fit_reason=f.text("fit_reason", 300),
        engagement_score=f.score("engagement_score"),
        engagement_reason=f.text("engagement_reason", 300),
        asks_if_ai=f.flag("asks_if_ai"),
        handoff_reason=f.text("handoff_reason", 300),
        injection_attempt=f.flag("injection_attempt"),
        repairs=tuple(repairs),
    )
    return follow_stage_rules(analysis, playbook, ctx)


def follow_stage_rules(analysis: Analysis, playbook: Playbook, ctx: TurnContext) -> Analysis:
    """Keep the lead in its current stage when the playbook does not allow the proposed move."""
    if analysis.stage in playbook.allowed_next(ctx.stage):
        return analysis
    return replace(analysis, stage=playbook.stage(ctx.stage).name, stage_corrected_from=analysis.stage)


def parse_analysis(content: str, playbook: Playbook, ctx: TurnContext) -> Analysis:
    try:
        return read_analysis(content, playbook, ctx)
    except Unusable as exc:
        return default_analysis(playbook, ctx, f"unusable analysis output: {exc}")


def analyze(client: openai.OpenAI, model: str, playbook: Playbook, ctx: TurnContext) -> tuple[Analysis, Completion]:
    """Make the turn's analysis call, and at most one more when its output is unusable.

    Transport errors of the first call propagate (LLMError); the second call's only cost the retry."""
    messages = analysis_messages(playbook, ctx)
    first = complete(client, model, messages, response_format(playbook))
    analysis = parse_analysis(first.content, playbook, ctx)
    if analysis.valid:
        return analysis, first
    log.warning("turn %s: analysis output unusable, asking once more: %s", ctx.turn_id, analysis.problem)
    # The note is ours (system); the lead's messages stay the last user content, as data.
    retry = [*messages[:-1], {"role": "assistant", "content": first.content[:4000]},
             {"role": "system", "content": RETRY_NOTE.format(problem=analysis.problem)}, messages[-1]]
    try:
        second = complete(client, model, retry, response_format(playbook))
    except LLMError as exc:
        return default_analysis(playbook, ctx, f"{analysis.problem}; retry failed: {exc}", attempts=2), first
    again = parse_analysis(second.content, playbook, ctx)
    if not again.valid:
        again = replace(again, problem=f"{again.problem} (after one retry)")
    return replace(again, attempts=2), combined_completion(first, second)


def combined_completion(first: Completion, second: Completion) -> Completion:
    return Completion(content=second.content, elapsed_ms=first.elapsed_ms + second.elapsed_ms,
                      prompt_tokens=first.prompt_tokens + second.prompt_tokens,
                      completion_tokens=first.completion_tokens + second.completion_tokens,
                      cached_tokens=first.cached_tokens + second.cached_tokens)
