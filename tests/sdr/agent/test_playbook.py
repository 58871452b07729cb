"""The playbook files: both examples load, and every error names the offending field."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from sdr.agent.playbook import PlaybookError, load_playbook, parse_playbook
from sdr.settings import DEFAULT_PLAYBOOK, REPO_ROOT

SOLAR = yaml.safe_load(DEFAULT_PLAYBOOK.read_text(encoding="utf-8"))
STAFFING_PATH = REPO_ROOT / "playbooks" / "staffing.yaml"


def test_solar_example_loads():
    playbook = load_playbook(REPO_ROOT / "playbooks" / "solar.yaml")
    assert playbook.business_name == "Sol Forte Energia"
    assert playbook.persona.name == "Ana" and playbook.persona.ai_disclosure == "always"
    assert [p.name for p in playbook.products][:2] == ["Kit residencial 3 kWp", "Kit residencial 5 kWp"]
    assert playbook.products[2].price is None  # "sob consulta"
    assert playbook.stage_names[0] == "novo" and "conta_de_luz" in {s.name for s in playbook.slots}
    assert playbook.qualification.method == "BANT"
    assert all(slot.filled_when for slot in playbook.slots)
    assert playbook.allowed_next("proposta") == ("proposta", "agendamento", "qualificando", "perdido")
    assert playbook.allowed_next(None) == ("novo", "qualificando", "perdido")
    assert "Portal Solar" in playbook.guidelines.competitors
    assert [s.after for s in playbook.follow_up.steps][:2] == [timedelta(hours=4), timedelta(days=1)]
    assert str(playbook.hours.timezone) == "America/Sao_Paulo"
    assert (playbook.max_reply_chars, playbook.max_parts, playbook.engagement_half_life_hours) == (700, 3, 72.0)
    assert playbook.fallback_message.startswith("Desculpe")
    assert playbook.source == "solar.yaml"


def broken(path: str, value, *, delete: bool = False) -> dict:
    data = copy.deepcopy(SOLAR)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    if delete:
        del node[leaf]
    else:
        node[leaf] = value
    return data


@pytest.mark.parametrize("data, field", [
    (broken("persona.name", None, delete=True), "persona.name is required"),
    (broken("persona.name", "  "), "persona.name must be a non-empty string"),
    (broken("persona.ai_disclosure", "never"), "persona.ai_disclosure must be 'always' or 'when_asked'"),
    (broken("products", []), "products must be a non-empty list"),
    (broken("products", None, delete=True), "products must be a non-empty list"),
    (broken("reply.max_chars", "setecentos"), "reply.max_chars must be a number"),
    (broken("reply.max_chars", 10), "reply.max_chars must be a number of at least 80"),
    (broken("reply.max_parts", True), "reply.max_parts must be a number"),
    (broken("stages", []), "stages must be a non-empty list"),
    (broken("stages.1.entry", None, delete=True), "stages[1].entry is required"),
    (broken("stages.2.next", ["agendamneto"]), "stages[2].next names unknown stage 'agendamneto' "
                                                 "(did you mean 'agendamento'?)"),
    (broken("qualification.slots", [{"name": "cidade"}]), "qualification.slots[0].question is required"),
    (broken("qualification.slots.2.question", None, delete=True), "qualification.slots[2].question is required"),
    (broken("qualification.slots.1.filled_when", 3), "qualification.slots[1].filled_when must be a non-empty"),
    (broken("qualification.slots.3.name", "cidade"), "qualification.slots repeats the name 'cidade'"),
    (broken("qualification.method", "MEDDIC"), "qualification.method must be 'BANT' or 'SPIN'"),
    (broken("guidelines.do", ["ok", 3]), "guidelines.do must be a list of non-empty strings"),
    (broken("guidelines.competitors", "SolarMax"), "guidelines.competitors must be a list"),
    (broken("company", "Sol Forte"), "company must be a mapping"),
    (broken("company", None, delete=True), "company is required"),
    (broken("fallback_message", None, delete=True), "fallback_message is required"),
    (broken("business_hours.timezone", "Brasil/Sao_Paulo"), "business_hours.timezone 'Brasil/Sao_Paulo' is not an "
                                                             "IANA time zone"),
    (broken("business_hours.week.seg", ["8h-12h"]), "business_hours.week.seg '8h-12h' must look like '08:00-12:00'"),
    (broken("business_hours.week.ter", ["18:00-08:00"]), "business_hours.week.ter '18:00-08:00' must end after"),
    (broken("business_hours.extra_closed", ["amanhã"]), "business_hours.extra_closed[0] must be a date"),
    (broken("business_hours.national_holidays", "sim"), "business_hours.national_holidays must be true or false"),
    (broken("follow_up.steps.0.after", "quatro horas"), "follow_up.steps[0].after must be a positive duration"),
    (broken("follow_up.steps.2.after", "2h"), "follow_up.steps[2].after must be later than the previous step"),
    (broken("follow_up.steps.1.intent", ""), "follow_up.steps[1].intent must be a non-empty string"),
])
def test_errors_name_the_field(data, field):
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(data, "mine.yaml")
    assert str(raised.value).startswith("playbook mine.yaml: ")
    assert field in str(raised.value)


@pytest.mark.parametrize("data, message", [
    (broken("persona.tom", "amigável"), "persona.tom is not a known field (did you mean 'tone'?)"),
    (broken("guidelines.donts", ["x"]), "guidelines.donts is not a known field (did you mean 'dont'?)"),
    (broken("qualification.slots.0.filed_when", "x"), "qualification.slots[0].filed_when is not a known field "
                                                       "(did you mean 'filled_when'?)"),
    (broken("stagess", []), "stagess is not a known field (did you mean 'stages'?)"),
    (broken("pricing", {}), "pricing is not a known field"),
])
def test_unknown_keys_are_errors_with_a_suggestion(data, message):
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(data, "mine.yaml")
    assert message in str(raised.value)


def test_a_misspelt_required_key_points_at_the_typo():
    data = copy.deepcopy(SOLAR)
    data["qualification"]["slots"][2]["questoin"] = data["qualification"]["slots"][2].pop("question")
    with pytest.raises(PlaybookError, match=r"slots\[2\]\.question is required \(found 'questoin'"):
        parse_playbook(data, "mine.yaml")


def test_a_product_error_names_its_index():
    data = copy.deepcopy(SOLAR)
    data["products"][1]["description"] = ""
    with pytest.raises(PlaybookError, match=r"products\[1\]\.description"):
        parse_playbook(data, "mine.yaml")


def test_missing_file_is_a_clear_error(tmp_path: Path):
    with pytest.raises(PlaybookError, match="file not found"):
        load_playbook(tmp_path / "nope.yaml")


def test_unparseable_yaml_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("persona: [unclosed", encoding="utf-8")
    with pytest.raises(PlaybookError, match="cannot be read"):
        load_playbook(path)


def test_a_top_level_that_is_not_a_mapping_is_an_error(tmp_path: Path):
    path = tmp_path / "list.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(PlaybookError, match="top level must be a mapping"):
        load_playbook(path)


def test_defaults_apply_when_optional_sections_are_absent():
    data = copy.deepcopy(SOLAR)
    for key in ("reply", "temperature", "guidelines", "follow_up"):
        del data[key]
    del data["persona"]["language"]
    for stage in data["stages"]:
        del stage["next"]
    playbook = parse_playbook(data, "minimal.yaml")
    assert (playbook.max_reply_chars, playbook.max_parts, playbook.engagement_half_life_hours) == (700, 3, 72.0)
    assert playbook.persona.language == "pt-BR" and playbook.guidelines.do == () and playbook.guidelines.dont == ()
    assert playbook.follow_up.steps == ()
    # Without `next`, a stage leads to the one after it.
    assert playbook.allowed_next("qualificando") == ("qualificando", "proposta")
    assert playbook.allowed_next("perdido") == ("perdido",)


def test_staffing_example_loads():
    playbook = load_playbook(STAFFING_PATH)
    assert playbook.company.name == "Escala Certa Plantões Médicos"
    assert playbook.qualification.method == "SPIN" and len(playbook.slots) == 6
    assert all(slot.question.count("?") == 1 for slot in playbook.slots)  # one question per message
    assert playbook.stage_names == ("novo", "diagnostico", "proposta", "reuniao", "ganho", "perdido")
    assert str(playbook.hours.timezone) == "America/Recife"
    assert playbook.products[3].price is None
    assert (REPO_ROOT / "playbooks" / "staffing-knowledge.md").exists()


@pytest.mark.parametrize("path", [DEFAULT_PLAYBOOK, STAFFING_PATH])
def test_every_slot_question_is_a_single_question(path):
    assert all(slot.question.count("?") == 1 for slot in load_playbook(path).slots)


STAFFING = yaml.safe_load(STAFFING_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["qualification"]["slots"][2].pop("question"), "qualification.slots[2].question is required"),
    (lambda d: d["business_hours"].update(timezone="GMT-3"), "business_hours.timezone 'GMT-3' is not an IANA"),
    (lambda d: d["stages"][0].update(next=["diagnóstico"]), "stages[0].next names unknown stage 'diagnóstico' "
                                                            "(did you mean 'diagnostico'?)"),
    (lambda d: d["products"][0].update(preco="18%"), "products[0].preco is not a known field"),
    (lambda d: d["follow_up"].update(business_hours_only="yes"), "follow_up.business_hours_only must be true"),
    (lambda d: d["business_hours"]["week"].update(sab=["8:00-12:00"]), "business_hours.week.sab '8:00-12:00'"),
    (lambda d: d["business_hours"]["week"].update(sabado=["08:00-12:00"]), "business_hours.week.sabado is not a "
                                                                           "known field (did you mean 'sab'?)"),
])
def test_staffing_errors_name_the_field(edit, message):
    data = copy.deepcopy(STAFFING)
    edit(data)
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(data, "staffing.yaml")
    assert f"playbook staffing.yaml: {message}" in str(raised.value)
