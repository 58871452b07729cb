"""Channels: message context (quotes, referrals, button ids) and provider status reports.

Revision ID: 0002_channels
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002_channels"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("messages", sa.Column("context", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_table(
        "message_statuses",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("provider", sa.Text(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.Text(), nullable=True),
        sa.Column("error_text", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('sent', 'delivered', 'read', 'failed')",
                           name=op.f("ck_message_statuses_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_statuses")),
        sa.UniqueConstraint("provider", "provider_message_id", "status",
                            name=op.f("uq_message_statuses_provider_provider_message_id_status")),
    )
    op.create_index("ix_message_statuses_provider_message_id", "message_statuses", ["provider_message_id"])


def downgrade() -> None:
    op.drop_index("ix_message_statuses_provider_message_id", table_name="message_statuses")
    op.drop_table("message_statuses")
    op.drop_column("messages", "context")
