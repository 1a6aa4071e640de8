"""survey_answers: follow-up (回访) and post-call surveys, answered on the keypad

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 02:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_bridge.models import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("call_linkedid", sa.String(length=64), nullable=True),
        sa.Column("agent", sa.String(length=60), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("outlet_id", sa.Integer(), nullable=True),
        sa.Column("callback_id", sa.Integer(), nullable=True),
        sa.Column("satisfaction", sa.Integer(), nullable=True),
        sa.Column("solved", sa.Boolean(), nullable=True),
        sa.Column("comment_file", sa.String(length=300), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('follow_up', 'post_call')",
                           name=op.f("ck_survey_answers_kind_valid")),
        sa.CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5",
                           name=op.f("ck_survey_answers_satisfaction_range")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"],
                                name=op.f("fk_survey_answers_ticket_id_tickets"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["outlet_id"], ["service_outlets.id"],
                                name=op.f("fk_survey_answers_outlet_id_service_outlets"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["callback_id"], ["callbacks.id"],
                                name=op.f("fk_survey_answers_callback_id_callbacks"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_answers")),
    )
    op.create_index("ix_survey_answers_created_at", "survey_answers", ["created_at"])
    op.create_index("ix_survey_answers_outlet_id", "survey_answers", ["outlet_id"])
    op.create_index("ix_survey_answers_call", "survey_answers", ["call_linkedid"])


def downgrade() -> None:
    op.drop_index("ix_survey_answers_call", table_name="survey_answers")
    op.drop_index("ix_survey_answers_outlet_id", table_name="survey_answers")
    op.drop_index("ix_survey_answers_created_at", table_name="survey_answers")
    op.drop_table("survey_answers")
