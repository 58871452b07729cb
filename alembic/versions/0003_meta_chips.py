"""Chips name where their credentials are: `chips.credentials_ref` (an SDR_CHIP_SECRET_* variable, never a secret).

Revision ID: 0003_meta_chips
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_meta_chips"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chips", sa.Column("credentials_ref", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("chips", "credentials_ref")
