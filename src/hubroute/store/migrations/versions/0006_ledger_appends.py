"""the usage ledger appends: rows numbered by the database, batches marked in ledger_batches, no
index on anything random, per-account indexes only over the rows that have the account

Revision ID: 0006_ledger_appends
Revises: 0005_account_limits
Create Date: 2026-12-06

The table is rebuilt (its key changes type): its rows are copied, in time order, into the new one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_ledger_appends"
down_revision = "0005_account_limits"
branch_labels = None
depends_on = None

#: the columns a row keeps (all but its id)
_KEPT = ("request_id", "created_at", "key_id", "user_id", "org_id", "surface", "provider", "model", "provider_model",
         "task", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "images", "seconds",
         "characters", "usage_source", "cost_nano", "charged_nano", "byok", "status", "error", "duration_ms",
         "ttfb_ms", "attempts")


def _usage(key: sa.types.TypeEngine[int] | sa.String) -> None:
    op.create_table(
        "usage",
        sa.Column("id", key, nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("org_id", sa.String(length=32), nullable=True),
        sa.Column("surface", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("model", sa.String(length=256), nullable=True),
        sa.Column("provider_model", sa.String(length=256), nullable=True),
        sa.Column("task", sa.String(length=64), nullable=True),
        sa.Column("input_tokens", sa.BigInteger(), nullable=True),
        sa.Column("output_tokens", sa.BigInteger(), nullable=True),
        sa.Column("cached_tokens", sa.BigInteger(), nullable=True),
        sa.Column("reasoning_tokens", sa.BigInteger(), nullable=True),
        sa.Column("images", sa.Integer(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("characters", sa.BigInteger(), nullable=True),
        sa.Column("usage_source", sa.String(length=16), nullable=True),
        sa.Column("cost_nano", sa.BigInteger(), nullable=True),
        sa.Column("charged_nano", sa.BigInteger(), nullable=True),
        sa.Column("byok", sa.Boolean(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("ttfb_ms", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage")),
    )


def _copy(id_from: str | None = None) -> None:
    """The rows of `usage_before` into `usage`, in time order, with `id_from` as their ids (None: numbered)."""
    kept = ", ".join(_KEPT)
    into, values = (f"id, {kept}", f"{id_from}, {kept}") if id_from else (kept, kept)
    op.execute(f"INSERT INTO usage ({into}) SELECT {values} FROM usage_before ORDER BY created_at")  # noqa: S608


def upgrade() -> None:
    op.create_table(
        "ledger_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_batches")),
    )
    op.execute("CREATE TABLE usage_before AS SELECT * FROM usage")
    op.drop_table("usage")  # (its indexes with it)
    _usage(sa.BigInteger().with_variant(sa.Integer(), "sqlite"))
    _copy()
    op.drop_table("usage_before")
    op.create_index(op.f("ix_usage_created_at"), "usage", ["created_at"], unique=False)
    for column in ("key_id", "user_id", "org_id"):
        condition = sa.text(f"{column} IS NOT NULL")
        op.create_index(op.f(f"ix_usage_{column}_created_at"), "usage", [column, "created_at"], unique=False,
                        sqlite_where=condition, postgresql_where=condition)


def downgrade() -> None:
    op.execute("CREATE TABLE usage_before AS SELECT * FROM usage")
    op.drop_table("usage")
    _usage(sa.String(length=32))
    _copy("CAST(id AS VARCHAR(32))")  # (ids of the old kind: strings, unique)
    op.drop_table("usage_before")
    op.create_index(op.f("ix_usage_created_at"), "usage", ["created_at"], unique=False)
    op.create_index(op.f("ix_usage_request_id"), "usage", ["request_id"], unique=False)
    for column in ("key_id", "user_id", "org_id"):
        op.create_index(op.f(f"ix_usage_{column}_created_at"), "usage", [column, "created_at"], unique=False)
    op.drop_table("ledger_batches")
