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
class KnowledgeHit:
    """A section of the business's knowledge found for the lead's question."""

    title: str
    body: str


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
    # memory and knowledge
    summary_through_id: int = 0  # the last message id `summary` covers
    summary_due: bool = False  # enough history is left unsummarized: the summary task should run
    history_fill_through: int = 0  # >0: the history cache should be refilled with earlier items up to this id
    knowledge: tuple[KnowledgeHit, ...] = ()  # found in the reply step for the analysis' knowledge query

    @property
    def pending(self) -> list[HistoryItem]:
        return [item for item in self.history if item.pending]

    @property
    def earlier(self) -> list[HistoryItem]:
        return [item for item in self.history if not item.pending]

    def render_knowledge(self) -> str:
        """The knowledge hits as the reply prompt shows them; facts, prices and terms may come only from here
        and the playbook."""
        if not self.knowledge:
            return "Base de conhecimento: nada encontrado para esta pergunta; não invente fatos, preços ou prazos."
        hits = "\n".join(f"- {hit.title}: {hit.body}" for hit in self.knowledge)
        return f"Base de conhecimento (fatos que você pode usar):\n{hits}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "TurnContext":
        history = tuple(HistoryItem(**item) for item in data.get("history", ()))
        knowledge = tuple(KnowledgeHit(**hit) for hit in data.get("knowledge", ()))
        return cls(**{**data, "history": history, "knowledge": knowledge})
