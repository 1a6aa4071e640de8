"""tickets remember the call they were opened on; outlet work-list index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 09:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("call_linkedid", sa.String(length=64), nullable=True))
        batch.create_index("ix_tickets_call_linkedid", ["call_linkedid"])
        batch.create_index("ix_tickets_outlet_id_status", ["outlet_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_outlet_id_status")
        batch.drop_index("ix_tickets_call_linkedid")
        batch.drop_column("call_linkedid")
