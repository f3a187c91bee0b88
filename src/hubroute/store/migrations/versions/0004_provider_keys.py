"""provider keys users and organisations bring

Revision ID: 0004_provider_keys
Revises: 0003_credits
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_provider_keys"
down_revision = "0003_credits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("org_id", sa.String(length=32), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.Column("last4", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name=op.f("ck_provider_keys_one_owner")),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], name=op.f("fk_provider_keys_org_id_orgs"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_provider_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_keys")),
        sa.UniqueConstraint("org_id", "provider", name=op.f("uq_provider_keys_org_id_provider")),
        sa.UniqueConstraint("user_id", "provider", name=op.f("uq_provider_keys_user_id_provider")),
    )


def downgrade() -> None:
    op.drop_table("provider_keys")
