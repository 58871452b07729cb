"""The playbook file: the example loads, and every error names the offending field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sdr.agent.playbook import PlaybookError, load_playbook, parse_playbook
from sdr.settings import DEFAULT_PLAYBOOK, REPO_ROOT

SOLAR = yaml.safe_load(DEFAULT_PLAYBOOK.read_text(encoding="utf-8"))


def test_solar_example_loads():
    playbook = load_playbook(REPO_ROOT / "playbooks" / "solar.yaml")
    assert playbook.business_name == "Sol Forte Energia"
    assert playbook.persona.name == "Ana" and playbook.persona.ai_disclosure == "always"
    assert [p.name for p in playbook.products][:2] == ["Kit residencial 3 kWp", "Kit residencial 5 kWp"]
    assert playbook.products[2].price is None  # "sob consulta"
    assert playbook.stages[0] == "novo" and "conta_de_luz" in {s.name for s in playbook.slots}
    assert (playbook.max_reply_chars, playbook.max_parts, playbook.engagement_half_life_hours) == (700, 3, 72.0)
    assert playbook.fallback_message.startswith("Desculpe")
    assert playbook.source == "solar.yaml"


def broken(path: str, value, *, delete: bool = False) -> dict:
    data = copy.deepcopy(SOLAR)
    *parents, leaf = path.split(".")
    node = data
    for key in parents:
        node = node[key]
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
    (broken("stages", []), "stages must list at least one stage"),
    (broken("qualification.slots", [{"name": "cidade"}]), "qualification.slots[0].question is required"),
    (broken("guidelines.do", ["ok", 3]), "guidelines.do must be a list of non-empty strings"),
    (broken("business", "Sol Forte"), "business must be a mapping"),
    (broken("fallback_message", None, delete=True), "fallback_message is required"),
])
def test_errors_name_the_field(data, field):
    with pytest.raises(PlaybookError) as raised:
        parse_playbook(data, "mine.yaml")
    assert str(raised.value).startswith("playbook mine.yaml: ")
    assert field in str(raised.value)


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
    for key in ("reply", "temperature", "guidelines"):
        del data[key]
    del data["persona"]["language"]
    playbook = parse_playbook(data, "minimal.yaml")
    assert (playbook.max_reply_chars, playbook.max_parts, playbook.engagement_half_life_hours) == (700, 3, 72.0)
    assert playbook.persona.language == "pt-BR" and playbook.do == () and playbook.dont == ()
