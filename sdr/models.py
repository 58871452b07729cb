"""The relational schema (SQLAlchemy 2 declarative models); Alembic migrations mirror it.

Times are stored in UTC. Status columns are plain text with CHECK constraints so a new state
is a one-line migration. Message ids are monotonic, which is what the per-conversation
watermark relies on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
    func,
    text as sql_text,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

CONVERSATION_STATUSES = ("bot", "paused", "handoff", "closed")
MESSAGE_STATUSES = ("received", "orphaned", "echo", "queued", "sent", "delivered", "read", "failed", "cancelled")
TURN_STATUSES = ("running", "done", "superseded", "stopped", "failed", "abandoned", "empty")
MEDIA_STATUSES = ("pending", "ready", "failed")  # of a lead's attachment being turned into text (sdr.media)
OUTBOX_STATUSES = ("queued", "retry", "sending", "sent", "unknown", "failed", "cancelled")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Chip(Base):
    """One of the business's WhatsApp numbers, on one provider."""

    __tablename__ = "chips"
    __table_args__ = (UniqueConstraint("provider", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    external_id: Mapped[str] = mapped_column(Text, nullable=False)  # Evolution instance, Meta phone id...
    phone: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="active")
    hourly_cap: Mapped[int | None] = mapped_column(Integer)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    # -- 0003_meta_chips --
    # Names the environment variable holding this chip's token (SDR_CHIP_SECRET_*); never the secret itself.
    credentials_ref: Mapped[str | None] = mapped_column(Text)


class Lead(Base):
    """A person writing to the business; `address` is their WhatsApp identity."""

    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # E.164 phone ("+5511...") or a provider user id ("lid:1169...") when no phone is known.
    address: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    phone: Mapped[str | None] = mapped_column(
        Text, Computed("CASE WHEN address LIKE '+%' THEN address END", persisted=True), unique=True
    )
    profile_name: Mapped[str | None] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(Text, nullable=False, server_default="America/Sao_Paulo")
    stage: Mapped[str | None] = mapped_column(Text)
    qualification: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=sql_text("'{}'"))
    fit_score: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    engagement_score: Mapped[float] = mapped_column(Float, nullable=False, server_default="0")
    temperature_reasons: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default=sql_text("'[]'"))
    engagement_decayed_at: Mapped[datetime] = _now()
    opted_out_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    opt_out_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Conversation(Base):
    """A lead's thread with one chip; the unit of buffering, locking and turns."""

    __tablename__ = "conversations"
    __table_args__ = (
        UniqueConstraint("lead_id", "chip_id"),
        CheckConstraint(_in("status", CONVERSATION_STATUSES), name="status"),
        # The sweeper looks only at conversations with unanswered inbound messages.
        Index("ix_conversations_pending", "id", postgresql_where=sql_text("last_inbound_id > watermark_id")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"), nullable=False)
    chip_id: Mapped[int] = mapped_column(ForeignKey("chips.id"), nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="bot")
    paused_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Last inbound message id a turn has answered / last inbound message id received.
    watermark_id: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_inbound_id: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    last_inbound_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    window_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    summary: Mapped[str | None] = mapped_column(Text)
    # memory: the last message id the rolling summary covers
    summary_through_id: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, server_default=sql_text("'{}'"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_turn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class Message(Base):
    """Every message in either direction. Inbound rows are the durable record of a webhook."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id"),
        CheckConstraint("direction IN ('in', 'out')", name="direction"),
        CheckConstraint("author IN ('lead', 'bot', 'human')", name="author"),
        CheckConstraint(_in("status", MESSAGE_STATUSES), name="status"),
        Index("ix_messages_conversation_id_created_at", "conversation_id", "created_at"),
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),  # memory: history windows by id
        Index("ix_messages_unrouted", "id",
              postgresql_where=sql_text("conversation_id IS NULL AND status = 'received'")),
        Index("uq_messages_turn_part", "turn_id", "part", unique=True,
              postgresql_where=sql_text("turn_id IS NOT NULL")),
        # media (0004_media): a turn looks for its messages' unresolved media through this index
        CheckConstraint(_in("media_status", MEDIA_STATUSES), name="media_status"),
        Index("ix_messages_media_pending", "conversation_id", "id",
              postgresql_where=sql_text("media_status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    channel_ref: Mapped[str] = mapped_column(Text, nullable=False)  # which of our numbers, as the provider names it
    lead_address: Mapped[str] = mapped_column(Text, nullable=False)
    profile_name: Mapped[str | None] = mapped_column(Text)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(Text, nullable=False)
    author: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False, server_default="text")
    text: Mapped[str | None] = mapped_column(Text)
    media: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="received")
    provider_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="SET NULL"))
    part: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    # -- channels (0002_channels) --
    # quoted reply, Click-to-WhatsApp referral, button/list ids (keys: sdr.channels.content)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # media (0004_media): NULL when there is nothing to resolve; the text is a transcript,
    # description or document text, the error a short reason code (see sdr.media.REASONS)
    media_status: Mapped[str | None] = mapped_column(Text)
    media_text: Mapped[str | None] = mapped_column(Text)
    media_error: Mapped[str | None] = mapped_column(Text)


class Turn(Base):
    """One run of analyze -> reply -> send, with its timeline for the dashboard and metrics."""

    __tablename__ = "turns"
    __table_args__ = (
        CheckConstraint(_in("status", TURN_STATUSES), name="status"),
        Index("ix_turns_conversation_id_id", "conversation_id", "id"),
        Index("uq_turns_running", "conversation_id", unique=True, postgresql_where=sql_text("status = 'running'")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    token: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="running")
    outcome: Mapped[str | None] = mapped_column(Text)
    base_watermark_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    upto_message_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    analysis: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    reply_text: Mapped[str | None] = mapped_column(Text)
    parts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime] = _now()
    analysis_ms: Mapped[int | None] = mapped_column(Integer)
    reply_ms: Mapped[int | None] = mapped_column(Integer)
    llm_ms: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    prompt_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cached_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)


class Outbox(Base):
    """A message we intend to send, written before the provider call; the idempotency record."""

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_conversation_id_sending", "conversation_id", postgresql_where=sql_text("status = 'sending'")),
        Index("ix_outbox_provider_message_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(Text, nullable=False, unique=True)  # "turn:<id>:<part>"
    turn_id: Mapped[int | None] = mapped_column(ForeignKey("turns.id", ondelete="CASCADE"))
    part: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    chip_id: Mapped[int] = mapped_column(ForeignKey("chips.id"), nullable=False)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    to_address: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Guideline(Base):
    """A business rule ("do"/"dont") added by operators on top of the playbook's own."""

    __tablename__ = "guidelines"
    __table_args__ = (CheckConstraint("kind IN ('do', 'dont')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    active: Mapped[bool] = mapped_column(nullable=False, server_default=sql_text("true"))
    created_at: Mapped[datetime] = _now()


class KnowledgeDocument(Base):
    """A piece of the business's own knowledge, searchable in Portuguese without accents.

    Title and tags weigh more than the body in the ranking; a section's text is stored once per source.
    """

    __tablename__ = "knowledge_documents"
    __table_args__ = (
        Index("ix_knowledge_documents_tsv", "tsv", postgresql_using="gin"),
        Index("ix_knowledge_documents_source", "source"),
        UniqueConstraint("source", "content_hash"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text, nullable=False)
    title: Mapped[str] = mapped_column(Text, nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    tags: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    content_hash: Mapped[str] = mapped_column(Text, nullable=False)
    tsv: Mapped[Any] = mapped_column(
        TSVECTOR,
        Computed(
            "setweight(to_tsvector('sdr_portuguese', coalesce(title, '')), 'A') || "
            "setweight(to_tsvector('sdr_portuguese', coalesce(tags, '')), 'A') || "
            "setweight(to_tsvector('sdr_portuguese', coalesce(body, '')), 'B')",
            persisted=True,
        ),
    )
    created_at: Mapped[datetime] = _now()


class MessageStatusReport(Base):
    """A provider's status report on a message we sent, kept once per (message, status).

    The unique key is the dedupe of redelivered reports, and a report that arrives before the send
    recorded the provider's message id waits here until the send catches up with it.
    """

    __tablename__ = "message_statuses"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id", "status"),
        CheckConstraint("status IN ('sent', 'delivered', 'read', 'failed')", name="status"),
        Index("ix_message_statuses_provider_message_id", "provider_message_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    provider: Mapped[str] = mapped_column(Text, nullable=False)
    provider_message_id: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    rank: Mapped[int] = mapped_column(Integer, nullable=False)  # STATUS_ORDER; a message only moves up
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the provider's time
    error_code: Mapped[str | None] = mapped_column(Text)
    error_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()


class MediaCache(Base):
    """What a file said (transcript, description, document text), by the sha256 of its bytes, so the same
    file sent again (forwarded price lists, the same bill) is transcribed or described only once."""

    __tablename__ = "media_cache"

    sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, primary_key=True)  # audio | image | document
    text: Mapped[str] = mapped_column(Text, nullable=False)
    model: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
