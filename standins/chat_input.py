"""What the LLM stand-in reads from a chat-completions request body.

The "last user text" is every ``user`` message after the last ``assistant`` message, joined by newlines: that is
what the lead wrote since the bot last answered. Content may be a string or a list of typed parts (``text``,
``image_url``); images are returned as decoded data-URL bytes when possible.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Image:
    url: str
    data: bytes | None  # decoded bytes of a base64 data URL; None for remote URLs or undecodable data


def _parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [p for p in content if isinstance(p, dict)]
    return []


def part_text(content: Any) -> str:
    return "\n".join(str(p.get("text", "")) for p in _parts(content) if p.get("type") == "text")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    tail: list[str] = []
    for message in reversed(messages):
        role = message.get("role")
        if role == "assistant":
            break
        if role == "user":
            tail.append(part_text(message.get("content")))
    return "\n".join(t for t in reversed(tail) if t).strip()


def system_prompt(messages: list[dict[str, Any]]) -> str:
    return "\n".join(part_text(m.get("content")) for m in messages if m.get("role") in ("system", "developer"))


def images(messages: list[dict[str, Any]]) -> list[Image]:
    found = []
    for message in messages:
        for part in _parts(message.get("content")):
            if part.get("type") != "image_url":
                continue
            ref = part.get("image_url")
            url = str(ref.get("url", "")) if isinstance(ref, dict) else str(ref or "")
            found.append(Image(url=url, data=_data_url_bytes(url)))
    return found


def _data_url_bytes(url: str) -> bytes | None:
    if not url.startswith("data:") or "," not in url:
        return None
    header, payload = url.split(",", 1)
    try:
        return base64.b64decode(payload, validate=False) if header.endswith(";base64") else payload.encode()
    except (binascii.Error, ValueError):
        return None


def serialized(model: str, messages: list[dict[str, Any]]) -> str:
    """Canonical prompt text used for token estimates and the prompt-cache prefix."""
    return model + "\n" + json.dumps(messages, ensure_ascii=False, separators=(",", ":"))
