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


# An attachment that could not become text (sdr.media): what the lead sent, and why, in the words
# the model uses to tell the lead honestly. Never a placeholder that reads like content.
MEDIA_FAILED = {"audio": "áudio não pôde ser ouvido", "image": "imagem não pôde ser vista",
                "document": "documento não pôde ser lido"}
MEDIA_NOUNS = {"audio": "o áudio", "image": "a imagem", "document": "o documento"}
MEDIA_REASONS = {
    "too_large": "arquivo grande demais",
    "download_failed": "não foi possível baixar o arquivo",
    "unsupported": "formato não suportado",
    "unreadable": "arquivo danificado ou protegido",
    "empty": "nenhum texto legível",
    "no_speech": "nenhuma fala reconhecida",
    "model_failed": "o serviço de transcrição ou leitura falhou",
    "pending": "demorou demais para processar",
}


@dataclass(frozen=True)
class HistoryItem:
    id: int
    author: str  # lead | bot | human
    kind: str
    text: str | None
    pending: bool  # an inbound message this turn answers
    media_status: str | None = None  # pending | ready | failed, when the attachment is resolved to text
    media_text: str | None = None  # transcript, image description or document text
    media_error: str | None = None  # a MEDIA_REASONS key
    filename: str | None = None

    @property
    def media_failed(self) -> bool:
        return self.media_status in ("failed", "pending")

    def render(self) -> str:
        label = KIND_LABELS.get(self.kind)
        if self.kind == "document" and self.filename:
            label = f"[documento {self.filename}]"
        if self.media_status == "ready":
            caption = f"(legenda: {self.text}) " if self.text and self.text != self.filename else ""
            return f"{label} {caption}{self.media_text or ''}".rstrip()
        if self.media_failed:
            what = MEDIA_FAILED.get(self.kind, f"{self.kind} não pôde ser processado")
            if self.kind == "document" and self.filename:
                what = f"documento {self.filename} não pôde ser lido"
            reason = MEDIA_REASONS.get(self.media_error or "pending", MEDIA_REASONS["download_failed"])
            caption = f" (legenda: {self.text})" if self.text and self.text != self.filename else ""
            return f"[{what}: {reason}]{caption}"
        if label and self.text:
            return f"{label} {self.text}"
        return self.text or label or f"[{self.kind}]"


def media_notice(items: list[HistoryItem]) -> str | None:
    """An instruction for the reply when an attachment of the new messages could not be read."""
    failed = sorted({MEDIA_NOUNS.get(item.kind, "um arquivo") for item in items if item.media_failed})
    if not failed:
        return None
    return (f"Atenção: não foi possível processar {' e '.join(failed)} que o lead enviou (o motivo está entre "
            "colchetes). Diga isso com honestidade e gentileza, por exemplo \"não consegui ouvir seu áudio, pode "
            "escrever?\", e peça que escreva ou envie de novo. Nunca finja que ouviu, viu ou leu o conteúdo.")


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
