"""Fixtures for the stand-in tests: one server of each kind per module (reset before every test), clients
pointed at them, and a small JSON-Schema checker (the project has no schema-validation dependency)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

# `pytest` (unlike `python -m pytest`) does not put the project root on sys.path.
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from standins.launch import StandIn, start  # noqa: E402

LLM_KEY = "sk-test-stand-in-key"
EVOLUTION_KEY = "evo-test-key"


@pytest.fixture(scope="module")
def llm_server() -> Iterator[StandIn]:
    with start("llm", api_key=LLM_KEY) as server:
        yield server


@pytest.fixture()
def llm(llm_server: StandIn) -> StandIn:
    llm_server.reset()
    return llm_server


@pytest.fixture()
def client(llm: StandIn) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=LLM_KEY, base_url=llm.url + "/v1", max_retries=0, timeout=5) as c:
        yield c


@pytest.fixture(scope="module")
def evolution_server() -> Iterator[StandIn]:
    with start("evolution", api_key=EVOLUTION_KEY) as server:
        yield server


@pytest.fixture()
def evolution(evolution_server: StandIn) -> StandIn:
    evolution_server.reset()
    return evolution_server


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$") -> list[str]:
    """Errors of ``value`` against the schema subset structured outputs use; [] when valid."""
    root = root if root is not None else schema
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        branches = [schema_errors(value, b, root, at) for b in schema["anyOf"]]
        return [] if any(not b for b in branches) else [f"{at}: matches no anyOf branch"]
    errors: list[str] = []
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if kinds and not any(TYPES[k](value) for k in kinds):
        return [f"{at}: {value!r} is not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in enum")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"] or "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{at}: {value} out of bounds")
    if isinstance(value, str) and len(value) > schema.get("maxLength", len(value)):
        errors.append(f"{at}: too long")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{at}: missing {k}" for k in schema.get("required", []) if k not in value]
        if schema.get("additionalProperties") is False:
            errors += [f"{at}: unexpected {k}" for k in value if k not in properties]
        for key, sub in properties.items():
            if key in value:
                errors += schema_errors(value[key], sub, root, f"{at}.{key}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
            errors.append(f"{at}: wrong number of items")
        if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
            errors.append(f"{at}: items not unique")
        for index, item in enumerate(value):
            errors += schema_errors(item, schema.get("items", {}), root, f"{at}[{index}]")
    return errors


@pytest.fixture()
def check_schema() -> Callable[..., list[str]]:
    return schema_errors
