"""Build a value that validates against a JSON Schema, with content chosen by a hints object.

Covers the subset structured-output schemas use: ``type`` (single or list), ``object``/``properties``/
``required``/``additionalProperties``, ``array``/``items``/``prefixItems``/``minItems``/``maxItems``/
``uniqueItems``, ``string`` (``enum``, ``const``, ``format``, ``minLength``/``maxLength``), ``number``/
``integer`` (``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``/``multipleOf``), ``boolean``,
``null``, ``anyOf``/``oneOf`` (first non-null branch), ``allOf`` (merged), and local ``$ref`` into
``$defs``/``definitions``. ``pattern`` is not honoured. Every property is emitted, so strict schemas (all
required, no additional properties) and loose ones both validate. Which enum value, flag, text or number to
use is asked of the hints (see ``standins.signals.Reading``), keyed by the property name.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

MAX_DEPTH = 16
FORMATS = {"date-time": "2025-01-15T13:00:00Z", "date": "2025-01-15", "time": "13:00:00", "email": "lead@example.com",
           "uri": "https://example.com", "uuid": "00000000-0000-4000-8000-000000000000"}


class Hints(Protocol):
    def rank(self, name: str, options: list[Any]) -> list[Any]: ...
    def flag(self, name: str) -> bool: ...
    def text_for(self, name: str) -> str: ...
    def number(self, name: str, low: float | None, high: float | None) -> float: ...
    def count(self, name: str, low: int, high: int | None) -> int: ...


def fill(schema: dict[str, Any], hints: Hints) -> Any:
    """Return a value valid against ``schema`` (whose ``$ref``s resolve within itself)."""
    return _Filler(schema, hints).value(schema, "", 0)


class _Filler:
    def __init__(self, root: dict[str, Any], hints: Hints) -> None:
        self.root = root
        self.hints = hints

    def resolve(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        if not isinstance(schema, dict):
            return {}  # `true`/`false` schemas: anything goes, emit a plain default
        ref = schema.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#") or depth > MAX_DEPTH:
            return schema
        target: Any = self.root
        for part in ref[1:].split("/")[1:] if ref != "#" else []:
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        return self.resolve({**target, **siblings}, depth + 1)

    def value(self, raw: Any, name: str, depth: int) -> Any:
        schema = self.resolve(raw)
        if depth > MAX_DEPTH:
            return None
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return self.hints.rank(name, list(schema["enum"]))[0]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                base = {k: v for k, v in schema.items() if k != key}
                return self.value({**base, **self.pick_branch(schema[key])}, name, depth + 1)
        if isinstance(schema.get("allOf"), list):
            return self.value(self.merge(schema), name, depth + 1)
        return self.typed(schema, self.type_of(schema), name, depth)

    def typed(self, schema: dict[str, Any], kind: str, name: str, depth: int) -> Any:
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("number", "integer"):
            return self.number(schema, name, kind == "integer")
        if kind == "boolean":
            return self.hints.flag(name)
        if kind == "null":
            return None
        return self.string(schema, name)

    def pick_branch(self, branches: list[Any]) -> dict[str, Any]:
        resolved = [self.resolve(b) for b in branches]
        for branch in resolved:
            if self.type_of(branch) != "null" and branch.get("const", 0) is not None:
                return branch
        return resolved[0]

    def merge(self, schema: dict[str, Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in map(self.resolve, schema["allOf"]):
            props = {**merged.get("properties", {}), **part.get("properties", {})}
            merged.update(part)
            if props:
                merged["properties"] = props
        return merged

    @staticmethod
    def type_of(schema: dict[str, Any]) -> str:
        kind = schema.get("type")
        if isinstance(kind, list):
            concrete = [k for k in kind if k != "null"]
            return concrete[0] if concrete else "null"
        if isinstance(kind, str):
            return kind
        if "properties" in schema or "additionalProperties" in schema:
            return "object"
        return "array" if "items" in schema or "prefixItems" in schema else "string"

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        return {key: self.value(sub, key, depth + 1) for key, sub in properties.items()}

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems") or []
        items = self.resolve(schema.get("items", {}))
        low, high = int(schema.get("minItems", 0)), schema.get("maxItems")
        count = self.hints.count(name, low, high)
        if isinstance(items.get("enum"), list) and items["enum"]:
            # Distinct values keep `uniqueItems` satisfied; cap at how many distinct values exist.
            return self.hints.rank(name, list(items["enum"]))[: min(count, len(items["enum"]))]
        head = [self.value(sub, name, depth + 1) for sub in prefix[:count]]
        return head + [self.value(items, name, depth + 1) for _ in range(count - len(head))]

    def number(self, schema: dict[str, Any], name: str, integer: bool) -> int | float:
        low, high = schema.get("minimum"), schema.get("maximum")
        step = 1 if integer else 1e-6
        if "exclusiveMinimum" in schema:
            low = schema["exclusiveMinimum"] + step
        if "exclusiveMaximum" in schema:
            high = schema["exclusiveMaximum"] - step
        value = self.hints.number(name, low, high)
        multiple = schema.get("multipleOf")
        if multiple:
            value = math.ceil(value / multiple) * multiple
            if high is not None and value > high:
                value -= multiple
        if not integer:
            return round(float(value), 6)
        whole = round(value)
        if low is not None and whole < low:
            whole = math.ceil(low)
        if high is not None and whole > high:
            whole = math.floor(high)
        return int(whole)

    def string(self, schema: dict[str, Any], name: str) -> str:
        text = FORMATS.get(schema.get("format", ""), None) or self.hints.text_for(name)
        high, low = schema.get("maxLength"), int(schema.get("minLength", 0))
        if high is not None:
            text = text[: int(high)]
        return text + "." * max(0, low - len(text))
