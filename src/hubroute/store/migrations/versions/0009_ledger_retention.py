"""the ledger's retention: batch marks deleted by their time, through an index

Revision ID: 0009_ledger_retention
Revises: 0008_responses
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0009_ledger_retention"
down_revision = "0008_responses"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_ledger_batches_written_at"), "ledger_batches", ["written_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ledger_batches_written_at"), table_name="ledger_batches")
