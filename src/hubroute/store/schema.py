"""The store's tables (SQLAlchemy Core), one schema for SQLite and PostgreSQL.

The migrations under `store/migrations/versions/` build exactly this (a test compares them); a change
here is a new migration there.

Conventions: ids are short random strings (`users.id`, ...), names are unique and accepted wherever an
id is; times are UTC; money is an integer count of nano-dollars (1e-9 USD), exact in sums and
comparisons where floats would drift, and wide enough for any balance (a BIGINT holds $9.2 billion).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

#: the table Alembic records the schema's version in (its own name: the database may be shared)
VERSION_TABLE = "hubroute_schema_version"

ID = sa.String(32)
NAME = sa.String(128)


def _created() -> sa.Column[object]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


users = sa.Table(
    "users", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    #: an administrator of the deployment: its keys may use the admin API
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("metadata", sa.JSON, nullable=False, default=dict),
    _created(),
    #: prepaid credits left: grants less the charges the ledger has written
    sa.Column("credits_nano", sa.BigInteger, nullable=False, default=0, server_default="0"),
    #: rate limits over all its keys (null: none): requests and tokens per minute, requests at once
    sa.Column("rpm", sa.Integer),
    sa.Column("tpm", sa.Integer),
    sa.Column("concurrency", sa.Integer),
)

orgs = sa.Table(
    "orgs", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    sa.Column("metadata", sa.JSON, nullable=False, default=dict),
    _created(),
    sa.Column("credits_nano", sa.BigInteger, nullable=False, default=0, server_default="0"),
    sa.Column("rpm", sa.Integer),
    sa.Column("tpm", sa.Integer),
    sa.Column("concurrency", sa.Integer),
)

members = sa.Table(
    "members", metadata,
    sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    _created(),
    sa.CheckConstraint("role IN ('admin', 'member')", name="role"),
)

api_keys = sa.Table(
    "api_keys", metadata,
    sa.Column("id", ID, primary_key=True),
    #: SHA-256 of the whole key, hex: the key itself is never stored
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Column("name", NAME, nullable=False, default=""),
    #: the owner: a user, or an organisation (a service key)
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
    sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True),
    #: the organisation billed when a request names none (`X-HF-Bill-To`); else the owner
    sa.Column("bill_to", ID, sa.ForeignKey("orgs.id", ondelete="SET NULL")),
    #: what the key may reach (null: anything): model patterns, provider names, API surfaces
    sa.Column("models", sa.JSON),
    sa.Column("providers", sa.JSON),
    sa.Column("surfaces", sa.JSON),
    #: per minute: requests, tokens; requests in progress at once (null: unlimited)
    sa.Column("rpm", sa.Integer),
    sa.Column("tpm", sa.Integer),
    sa.Column("concurrency", sa.Integer),
    sa.Column("budget_nano", sa.BigInteger),
    sa.Column("budget_period", sa.String(8)),
    sa.Column("metadata", sa.JSON, nullable=False, default=dict),
    sa.Column("blocked", sa.Boolean, nullable=False, default=False),
    _created(),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("rotated_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name="one_owner"),
    sa.CheckConstraint("budget_period IN ('day', 'week', 'month', 'total')", name="budget_period"),
)

#: a 64-bit integer key the database numbers (SQLite's rowid: only INTEGER is its alias)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when_set(column: str) -> dict[str, Any]:
    """A partial index's condition on both dialects: only the rows that have `column` (requests made
    without a stored key, most of a keyless deployment's, cost no entry in the per-account indexes)."""
    condition = sa.text(f"{column} IS NOT NULL")
    return {"sqlite_where": condition, "postgresql_where": condition}


#: the usage ledger: one row per request on a metered route, written in batches (`store.ledger`).
#: Written many thousand times a second and read by reports, so its indexes are the ones reports use,
#: each appended to at its end: the row's number, the time, and per account (key, user, organisation
#: billed) the time within it. Nothing random is indexed (a random key costs a B-tree page read and
#: write per row once the table outgrows the cache: three times what an append costs).
usage = sa.Table(
    "usage", metadata,
    #: the row's number, in the order rows were written
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(128), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("key_id", ID),
    sa.Column("user_id", ID),
    #: the organisation billed (X-HF-Bill-To, the key's default, or the owner of a service key)
    sa.Column("org_id", ID),
    sa.Column("surface", sa.String(32), nullable=False),
    sa.Column("provider", sa.String(64)),
    sa.Column("model", sa.String(256)),
    sa.Column("provider_model", sa.String(256)),
    sa.Column("task", sa.String(64)),
    sa.Column("input_tokens", sa.BigInteger),
    sa.Column("output_tokens", sa.BigInteger),
    sa.Column("cached_tokens", sa.BigInteger),
    sa.Column("reasoning_tokens", sa.BigInteger),
    sa.Column("images", sa.Integer),
    sa.Column("seconds", sa.Float),
    sa.Column("characters", sa.BigInteger),
    #: who counted the usage: the provider, or hubroute (estimated)
    sa.Column("usage_source", sa.String(16)),
    sa.Column("cost_nano", sa.BigInteger),
    #: what the billed account's credits were charged (none for a request on the caller's own provider key)
    sa.Column("charged_nano", sa.BigInteger),
    sa.Column("byok", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.Integer, nullable=False),
    sa.Column("error", sa.String(64)),
    sa.Column("duration_ms", sa.Float),
    sa.Column("ttfb_ms", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Index(None, "key_id", "created_at", **_when_set("key_id")),
    sa.Index(None, "user_id", "created_at", **_when_set("user_id")),
    sa.Index(None, "org_id", "created_at", **_when_set("org_id")),
)

#: the batches written to `usage`, one row each, in the batch's transaction: a batch sent again (its
#: commit's answer lost, or a spill file read back after a crash that followed its writing) finds its
#: mark and adds nothing, so that a request is never counted, nor charged, twice. Marks older than
#: `store.ledger_retention_days` are deleted with the rows (`store.retention`), through the time's index
ledger_batches = sa.Table(
    "ledger_batches", metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("written_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

#: the routers using the store now (each refreshes its row while it runs): who shares it, and
#: whether they share their limits through Redis (`store.presence`)
routers = sa.Table(
    "routers", metadata,
    sa.Column("id", ID, primary_key=True),
    #: the processes of one `hubroute serve` (its --workers) share one
    sa.Column("deployment", ID, nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    #: it keeps its rate limits, credits and budgets in Redis (`redis.url`)
    sa.Column("shared", sa.Boolean, nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

#: grants and deductions of credits, by an administrator (charges are the ledger's rows)
credit_entries = sa.Table(
    "credit_entries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
    sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True),
    sa.Column("amount_nano", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    #: who granted it (the key's id: "master", or an administrator's key)
    sa.Column("by", sa.String(32)),
    _created(),
    sa.CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name="one_owner"),
)

#: spending limits of users and organisations (a key's own is on the key)
budgets = sa.Table(
    "budgets", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE")),
    sa.Column("usd_nano", sa.BigInteger, nullable=False),
    sa.Column("period", sa.String(8), nullable=False),
    #: whether requests on the caller's own provider keys count against it
    sa.Column("include_byok", sa.Boolean, nullable=False, default=True),
    _created(),
    sa.CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name="one_owner"),
    sa.CheckConstraint("period IN ('day', 'week', 'month', 'total')", name="period"),
    sa.UniqueConstraint("user_id", "period"),
    sa.UniqueConstraint("org_id", "period"),
)

#: provider keys users and organisations bring (BYOK), sealed with the server's secret (`store.sealing`)
provider_keys = sa.Table(
    "provider_keys", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE")),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("sealed", sa.Text, nullable=False),
    #: the key's last characters, to recognise it in listings
    sa.Column("last4", sa.String(8), nullable=False),
    _created(),
    sa.CheckConstraint("(user_id IS NULL) <> (org_id IS NULL)", name="one_owner"),
    sa.UniqueConstraint("user_id", "provider"),
    sa.UniqueConstraint("org_id", "provider"),
)

#: responses of the Responses API kept for `previous_response_id` and `GET /v1/responses/{id}`
#: (`store: true`, the default), each with its own input; a conversation is the chain of its
#: `previous_id`s (`store.responses`). Kept `responses.retention_days`.
responses = sa.Table(
    "responses", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    #: whose it is: the user whose key made it, and the organisation it was billed to (a service key's
    #: own); either sees it, no one else
    sa.Column("user_id", ID, sa.ForeignKey("users.id", ondelete="CASCADE"), index=True),
    sa.Column("org_id", ID, sa.ForeignKey("orgs.id", ondelete="CASCADE"), index=True),
    sa.Column("key_id", sa.String(32)),
    sa.Column("previous_id", sa.String(64)),
    #: the response object as the client got it
    sa.Column("body", sa.JSON, nullable=False),
    #: its input items (those of the request that made it; the earlier ones are its predecessors')
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
