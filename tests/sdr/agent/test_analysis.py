"""Reading the analysis call's output: valid JSON becomes an Analysis; anything else a safe, marked default."""

from __future__ import annotations

import json

import pytest

from sdr.agent.analysis import (
    Analysis,
    analysis_messages,
    analysis_schema,
    default_analysis,
    parse_analysis,
)
from sdr.agent.context import HistoryItem, TurnContext
from sdr.agent.playbook import load_playbook
from sdr.settings import DEFAULT_PLAYBOOK

PLAYBOOK = load_playbook(DEFAULT_PLAYBOOK)
GOOD = {
    "stage": "qualificando",
    "slots": [{"name": "cidade", "value": "Campinas", "evidence": "moro em Campinas"},
              {"name": "signo", "value": "leão", "evidence": "sou de leão"}],
    "intent": "question",
    "objections": [],
    "sentiment": "positive",
    "temperature_change": "warmer",
    "opt_out": False,
    "handoff_requested": False,
    "next_action": "ask_qualification",
    "knowledge_query": "preço kit 3 kWp",
    "summary": "Lead de Campinas quer saber o preço.",
    "fit_score": 70,
    "fit_reason": "mora em área atendida",
    "engagement_score": 60,
    "engagement_reason": "respondeu rápido",
    "asks_if_ai": False,
    "handoff_reason": "",
}


def context(stage: str | None = None) -> TurnContext:
    history = (HistoryItem(1, "lead", "text", "Oi", False), HistoryItem(2, "bot", "text", "Olá! Sou a Ana.", False),
               HistoryItem(3, "lead", "text", "Quanto custa? moro em Campinas", True),
               HistoryItem(4, "lead", "audio", None, True))
    return TurnContext(turn_id=1, token="t", conversation_id=1, lead_id=1, chip_id=1, provider="evolution",
                       channel_ref="sdr-test", address="+5511987654321", profile_name="Maria", stage=stage,
                       qualification={}, summary=None, state={}, base_watermark_id=2, upto_message_id=4,
                       history=history)


def test_valid_output_is_read():
    analysis = parse_analysis(json.dumps(GOOD), PLAYBOOK, context())
    assert analysis.valid and analysis.problem is None
    assert (analysis.stage, analysis.intent, analysis.next_action) == ("qualificando", "question", "ask_qualification")
    assert [s.name for s in analysis.slots] == ["cidade"]  # slots the playbook does not know are dropped
    assert analysis.engagement_delta == pytest.approx(0.2)


def test_analysis_survives_the_trip_between_steps():
    analysis = parse_analysis(json.dumps({**GOOD, "objections": ["caro"]}), PLAYBOOK, context())
    assert Analysis.from_json(json.loads(json.dumps(analysis.to_json()))) == analysis


@pytest.mark.parametrize("content, problem", [
    ("isto não é JSON", "unusable"),
    ("[]", "not an object"),
    (json.dumps({**GOOD, "stage": "fechado"}), "stage"),
    (json.dumps({**GOOD, "intent": "comprar"}), "intent"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "sentiment"}), "sentiment"),
    (json.dumps({**GOOD, "opt_out": "no"}), "opt_out"),
    (json.dumps({**GOOD, "slots": [{"name": "cidade"}]}), "unusable"),
    (json.dumps({**GOOD, "slots": ["cidade"]}), "unusable"),
])
def test_unusable_output_becomes_a_marked_default(content, problem):
    analysis = parse_analysis(content, PLAYBOOK, context(stage="proposta"))
    assert analysis.valid is False and problem in analysis.problem
    assert analysis == default_analysis(PLAYBOOK, context(stage="proposta"), "")
    assert analysis.stage == "proposta"  # the lead's stage is kept
    assert (analysis.opt_out, analysis.handoff_requested) == (False, False)
    assert analysis.knowledge_query == "[áudio]"  # the latest pending message


def test_default_for_an_unknown_stage_is_the_first_stage():
    assert default_analysis(PLAYBOOK, context(stage="outro"), "x").stage == PLAYBOOK.stage_names[0]


def test_the_schema_is_strict_and_lists_the_playbooks_values():
    schema = analysis_schema(PLAYBOOK)
    assert schema["additionalProperties"] is False and set(schema["required"]) == set(schema["properties"])
    assert schema["properties"]["stage"]["enum"] == list(PLAYBOOK.stage_names)
    slot_names = schema["properties"]["slots"]["items"]["properties"]["name"]["enum"]
    assert slot_names == [s.name for s in PLAYBOOK.slots]


def test_the_request_separates_new_messages_from_history():
    system, state, user = analysis_messages(PLAYBOOK, context())
    assert system["role"] == state["role"] == "system" and user["role"] == "user"
    assert "Quanto custa? moro em Campinas" in user["content"] and "[áudio]" in user["content"]
    assert "Olá! Sou a Ana." in state["content"] and "Olá! Sou a Ana." not in user["content"]
