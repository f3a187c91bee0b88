"""rate limits of users and organisations

Revision ID: 0005_account_limits
Revises: 0004_provider_keys
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_account_limits"
down_revision = "0004_provider_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("concurrency", sa.Integer(), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("tpm", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("concurrency", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("concurrency")
        batch_op.drop_column("tpm")
        batch_op.drop_column("rpm")

    with op.batch_alter_table("orgs", schema=None) as batch_op:
        batch_op.drop_column("concurrency")
        batch_op.drop_column("tpm")
        batch_op.drop_column("rpm")
