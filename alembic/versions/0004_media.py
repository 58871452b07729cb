"""Media of inbound messages: resolution status, resulting text and error on messages; a cache by content hash.

Revision ID: 0004_media
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = "0004_media"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("media_status", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("media_text", sa.Text(), nullable=True))
    op.add_column("messages", sa.Column("media_error", sa.Text(), nullable=True))
    op.create_check_constraint(op.f("ck_messages_media_status"), "messages",
                               "media_status IN ('pending', 'ready', 'failed')")
    op.create_index("ix_messages_media_pending", "messages", ["conversation_id", "id"], unique=False,
                    postgresql_where=sa.text("media_status = 'pending'"))
    op.create_table(
        "media_cache",
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sha256", "kind", name=op.f("pk_media_cache")),
    )


def downgrade() -> None:
    op.drop_table("media_cache")
    op.drop_index("ix_messages_media_pending", table_name="messages")
    op.drop_constraint(op.f("ck_messages_media_status"), "messages", type_="check")
    op.drop_column("messages", "media_error")
    op.drop_column("messages", "media_text")
    op.drop_column("messages", "media_status")
