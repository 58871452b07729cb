"""What a turn knows: loaded once at its start and handed from step to step as plain JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KIND_LABELS = {
    "audio": "[áudio]",
    "image": "[imagem]",
    "video": "[vídeo]",
    "document": "[documento]",
    "sticker": "[figurinha]",
    "location": "[localização]",
    "contacts": "[contato]",
}


@dataclass(frozen=True)
class HistoryItem:
    id: int
    author: str  # lead | bot | human
    kind: str
    text: str | None
    pending: bool  # an inbound message this turn answers

    def render(self) -> str:
        label = KIND_LABELS.get(self.kind)
        if label and self.text:
            return f"{label} {self.text}"
        return self.text or label or f"[{self.kind}]"


@dataclass(frozen=True)
class TurnContext:
    turn_id: int
    token: str
    conversation_id: int
    lead_id: int
    chip_id: int
    provider: str
    channel_ref: str
    address: str
    profile_name: str | None
    stage: str | None
    qualification: dict[str, Any]
    summary: str | None
    state: dict[str, Any]
    base_watermark_id: int
    upto_message_id: int
    history: tuple[HistoryItem, ...] = field(default_factory=tuple)

    @property
    def pending(self) -> list[HistoryItem]:
        return [item for item in self.history if item.pending]

    @property
    def earlier(self) -> list[HistoryItem]:
        return [item for item in self.history if not item.pending]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TurnContext":
        history = tuple(HistoryItem(**item) for item in data.get("history", ()))
        return cls(**{**data, "history": history})
