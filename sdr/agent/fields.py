"""Reading a parsed YAML tree field by field, with errors that carry the dotted path of the field.

Every key a parser asks for is remembered per mapping, present or not; `Reader.check_unknown`
then reports any key nobody asked for (a typo, or a section this version does not know), with a
did-you-mean drawn from the keys that were asked for. New sections therefore get unknown-key
checks for free as long as their parser reads through the `Reader`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any


class PlaybookError(ValueError):
    """The playbook file is missing, unreadable or has a bad field (named in the message)."""


@dataclass
class Node:
    """A mapping of the tree, its dotted path ("" at the top) and the keys asked of it."""

    data: dict[str, Any]
    path: str
    asked: set[str] = field(default_factory=set)

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return self.data.get(key, default)

    def has(self, key: str) -> bool:
        self.asked.add(key)
        return key in self.data


class Reader:
    def __init__(self, source: str):
        self.source = source
        self.nodes: list[Node] = []

    def fail(self, path: str, problem: str) -> PlaybookError:
        return PlaybookError(f"playbook {self.source}: {path} {problem}")

    def root(self, data: Any) -> Node:
        if not isinstance(data, dict):
            raise self.fail("top level", "must be a mapping")
        return self._node(data, "")

    def _node(self, data: dict[str, Any], path: str) -> Node:
        node = Node(data, path)
        self.nodes.append(node)
        return node

    def section(self, parent: Node, key: str, required: bool = True) -> Node:
        """A child mapping; an optional one that is absent reads as empty."""
        value = parent.get(key)
        if value is None and not required:
            value = {}
        if not isinstance(value, dict):
            raise self.fail(parent.at(key), self._missing(parent, key) if value is None else "must be a mapping")
        return self._node(value, parent.at(key))

    def items(self, parent: Node, key: str, required: bool = True) -> list[Node]:
        """A list of mappings, each a node whose path carries its index."""
        value = parent.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            raise self.fail(parent.at(key), "must be a non-empty list")
        nodes = []
        for index, item in enumerate(value):
            path = f"{parent.at(key)}[{index}]"
            if not isinstance(item, dict):
                raise self.fail(path, "must be a mapping")
            nodes.append(self._node(item, path))
        return nodes

    def text(self, node: Node, key: str, default: str | None = None) -> str:
        value = node.get(key, default)
        if value is None:
            raise self.fail(node.at(key), self._missing(node, key))
        if not isinstance(value, str) or not value.strip():
            raise self.fail(node.at(key), "must be a non-empty string")
        return value.strip()

    def optional_text(self, node: Node, key: str) -> str | None:
        return self.text(node, key) if node.get(key) is not None else None

    def texts(self, node: Node, key: str, required: bool = False) -> tuple[str, ...]:
        value = node.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(node.at(key), "must be a list of non-empty strings")
        if required and not value:
            raise self.fail(node.at(key), "must list at least one entry")
        return tuple(v.strip() for v in value)

    def number(self, node: Node, key: str, default: float, minimum: float) -> float:
        value = node.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
            raise self.fail(node.at(key), f"must be a number of at least {minimum:g}")
        return float(value)

    def flag(self, node: Node, key: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(node.at(key), "must be true or false")
        return value

    def choice(self, node: Node, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        value = node.get(key, default)
        if value not in allowed:
            listed = " or ".join(repr(a) for a in allowed)
            raise self.fail(node.at(key), f"must be {listed}{suggest(value, allowed)}")
        return str(value)

    def _missing(self, node: Node, key: str) -> str:
        strays = [k for k in node.data if isinstance(k, str) and k not in node.asked]
        near = difflib.get_close_matches(key, strays, n=1)
        return f"is required (found '{near[0]}': a typo?)" if near else "is required"

    def check_unknown(self) -> None:
        """Fail on the first key that no parser asked for."""
        for node in self.nodes:
            for key in node.data:
                if key not in node.asked:
                    raise self.fail(node.at(str(key)), f"is not a known field{suggest(key, sorted(node.asked))}")


def suggest(value: Any, known: Any) -> str:
    if not isinstance(value, str):
        return ""
    near = difflib.get_close_matches(value, list(known), n=1, cutoff=0.5)
    return f" (did you mean '{near[0]}'?)" if near else ""
