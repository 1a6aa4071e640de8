"""agents' skills, sessions and state intervals; hold time per call

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_bridge.models import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("device", sa.String(length=120), nullable=True))
        batch.add_column(sa.Column("logged_in_at", UtcDateTime(), nullable=True))
        batch.add_column(sa.Column("paused", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("pause_reason", sa.String(length=30), nullable=True))
    op.create_table(
        "agent_skills",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("skill", sa.String(length=40), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name=op.f("ck_agent_skills_level_range")),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f(
            "fk_agent_skills_agent_id_agents"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_skills")),
        sa.UniqueConstraint("agent_id", "skill", name="uq_agent_skills_agent_id_skill"),
    )
    op.create_table(
        "agent_intervals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=False),
        sa.Column("call_linkedid", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_intervals")),
    )
    op.create_index("ix_agent_intervals_agent_started_at", "agent_intervals",
                    ["agent", "started_at"])
    op.create_index("ix_agent_intervals_started_at", "agent_intervals", ["started_at"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("hold_seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("hold_seconds")
    op.drop_index("ix_agent_intervals_started_at", table_name="agent_intervals")
    op.drop_index("ix_agent_intervals_agent_started_at", table_name="agent_intervals")
    op.drop_table("agent_intervals")
    op.drop_table("agent_skills")
    with op.batch_alter_table("agents") as batch:
        for col in ("pause_reason", "paused", "logged_in_at", "device"):
            batch.drop_column(col)
