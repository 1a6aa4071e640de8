"""the agent console: passwords, signed-in sessions, wrap-ups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 13:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_bridge.models import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPOSITIONS = ("'resolved', 'ticket_created', 'ticket_updated', 'callback_needed', "
                "'wrong_number', 'information_given', 'complaint_logged', 'transferred', "
                "'other'")


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
    op.create_table(
        "agent_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f(
            "fk_agent_sessions_agent_id_agents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_agent_sessions")),
    )
    op.create_index("ix_agent_sessions_agent_id", "agent_sessions", ["agent_id"])
    op.create_table(
        "call_wrapups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_linkedid", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=20), nullable=False),
        sa.Column("disposition", sa.String(length=30), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint(f"disposition IN ({DISPOSITIONS})",
                           name=op.f("ck_call_wrapups_disposition_valid")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f(
            "fk_call_wrapups_ticket_id_tickets"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f(
            "fk_call_wrapups_customer_id_customers"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_wrapups")),
        sa.UniqueConstraint("call_linkedid", "agent",
                            name="uq_call_wrapups_call_linkedid_agent"),
    )


def downgrade() -> None:
    op.drop_table("call_wrapups")
    op.drop_index("ix_agent_sessions_agent_id", table_name="agent_sessions")
    op.drop_table("agent_sessions")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("password_hash")
