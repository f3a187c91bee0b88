"""the usage ledger partitioned by time on PostgreSQL (its rows kept, as one partition)

Revision ID: 0010_ledger_partitions
Revises: 0009_ledger_retention
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

from hubroute.store import partitions

revision = "0010_ledger_partitions"
down_revision = "0009_ledger_retention"
branch_labels = None
depends_on = None


def upgrade() -> None:
    partitions.partition_usage(op.get_bind())  # (SQLite: nothing to do)


def downgrade() -> None:
    partitions.unpartition_usage(op.get_bind())
