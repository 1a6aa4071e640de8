"""calls: a callback's call names its callback and the first call it was owed to

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("callback_of", sa.String(64), nullable=True))
        batch.create_index("ix_calls_callback_of", ["callback_of"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_callback_of")
        batch.drop_column("callback_of")
        batch.drop_column("callback_id")
