"""Knowledge tags and weighted search; per-source dedupe; the rolling summary's coverage.

- knowledge_documents.tags (free text, weighted like the title in the search vector), the vector
  rebuilt with the title and tags ranking above the body, and content hashes unique per source so
  two sources may hold the same text and a source can be swapped on its own.
- conversations.summary_through_id: the last message id the rolling summary covers.
- messages (conversation_id, id): history windows, cache checks and summaries read a conversation's
  messages by id range.

Revision ID: 0006_memory
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0006_memory"
down_revision = "0001"
branch_labels = None
depends_on = None

WEIGHTED = (
    "setweight(to_tsvector('sdr_portuguese', coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('sdr_portuguese', coalesce(tags, '')), 'A') || "
    "setweight(to_tsvector('sdr_portuguese', coalesce(body, '')), 'B')"
)
PLAIN = "to_tsvector('sdr_portuguese', coalesce(title, '') || ' ' || coalesce(body, ''))"


def _vector(expression: str) -> None:
    op.drop_index("ix_knowledge_documents_tsv", table_name="knowledge_documents", postgresql_using="gin")
    op.drop_column("knowledge_documents", "tsv")
    op.add_column("knowledge_documents", sa.Column(
        "tsv", postgresql.TSVECTOR(), sa.Computed(expression, persisted=True), nullable=False))
    op.create_index("ix_knowledge_documents_tsv", "knowledge_documents", ["tsv"], postgresql_using="gin")


def upgrade() -> None:
    op.add_column("knowledge_documents", sa.Column("tags", sa.Text(), server_default="", nullable=False))
    _vector(WEIGHTED)
    op.drop_constraint("uq_knowledge_documents_content_hash", "knowledge_documents", type_="unique")
    op.create_unique_constraint("uq_knowledge_documents_source_content_hash", "knowledge_documents",
                                ["source", "content_hash"])
    op.create_index("ix_knowledge_documents_source", "knowledge_documents", ["source"])
    op.add_column("conversations", sa.Column("summary_through_id", sa.BigInteger(), server_default="0",
                                             nullable=False))
    op.create_index("ix_messages_conversation_id_id", "messages", ["conversation_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_messages_conversation_id_id", table_name="messages")
    op.drop_column("conversations", "summary_through_id")
    op.drop_index("ix_knowledge_documents_source", table_name="knowledge_documents")
    op.drop_constraint("uq_knowledge_documents_source_content_hash", "knowledge_documents", type_="unique")
    op.create_unique_constraint("uq_knowledge_documents_content_hash", "knowledge_documents", ["content_hash"])
    _vector(PLAIN)
    op.drop_column("knowledge_documents", "tags")
