"""calls: the disposition (and ticket) of calls already wrapped up

Until now the wrap-up's disposition stayed in ``call_wrapups`` and the call's
record kept none. The latest wrap-up of each call fills its record.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LATEST = ("(SELECT w.{col} FROM call_wrapups w WHERE w.call_linkedid = calls.linkedid"
          " ORDER BY w.updated_at DESC, w.id DESC LIMIT 1)")


def upgrade() -> None:
    op.execute(f"UPDATE calls SET disposition = {LATEST.format(col='disposition')}"
               " WHERE disposition IS NULL AND EXISTS (SELECT 1 FROM call_wrapups w"
               " WHERE w.call_linkedid = calls.linkedid)")
    op.execute(f"UPDATE calls SET ticket_id = {LATEST.format(col='ticket_id')}"
               " WHERE ticket_id IS NULL AND EXISTS (SELECT 1 FROM call_wrapups w"
               " WHERE w.call_linkedid = calls.linkedid AND w.ticket_id IS NOT NULL)")


def downgrade() -> None:
    pass  # the dispositions stay: they are right
