"""callbacks the hotline owes (at most one open per number) and their attempts

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 00:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_bridge.models import UtcDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status IN ('waiting', 'dialling')")


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("queue", sa.String(length=40), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("joined_at", UtcDateTime(), nullable=True),
        sa.Column("call_linkedid", sa.String(length=64), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=True),
        sa.Column("last_outcome", sa.String(length=20), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('keep_place', 'abandoned', 'follow_up')",
                           name=op.f("ck_callbacks_kind_valid")),
        sa.CheckConstraint("status IN ('waiting', 'dialling', 'done', 'failed', 'dropped')",
                           name=op.f("ck_callbacks_status_valid")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_callbacks_ticket_id_tickets"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    op.create_index("uq_callbacks_open_number", "callbacks", ["number"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_callbacks_status_next", "callbacks", ["status", "next_attempt_at"])
    op.create_table(
        "callback_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("callback_id", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("agent", sa.String(length=20), nullable=True),
        sa.Column("call_linkedid", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"],
                                name=op.f("fk_callback_attempts_callback_id_callbacks"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_attempts")),
    )
    op.create_index("ix_callback_attempts_callback_id", "callback_attempts", ["callback_id"])


def downgrade() -> None:
    op.drop_index("ix_callback_attempts_callback_id", table_name="callback_attempts")
    op.drop_table("callback_attempts")
    op.drop_index("ix_callbacks_status_next", table_name="callbacks")
    op.drop_index("uq_callbacks_open_number", table_name="callbacks")
    op.drop_table("callbacks")
