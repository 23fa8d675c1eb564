"""events written with the money, balance monitors and webhooks

Revision ID: 0013
Revises: 0012

``events``: the outbox. Each event is written in the transaction of the movement (or
status change) it tells of; ``data`` is its JSON. ``balance_monitors``: thresholds whose
crossing by an account's balance makes an event. ``webhook_endpoints``,
``webhook_deliveries`` and ``webhook_attempts``: where each client's events are sent,
each event's delivery to each endpoint, and every attempt with its answer;
``webhook_cursor`` (one row): the last event whose deliveries were made.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[int]:
    return sa.Column("id", _ID, autoincrement=True, nullable=False)


def _fk(column: str, table: str, name: str, nullable: bool = False) -> list[Any]:
    return [
        sa.Column(column, _ID, nullable=nullable),
        sa.ForeignKeyConstraint([column], [f"{table}.id"], name=op.f(name)),
    ]


def _events() -> None:
    op.create_table(
        "events",
        _id(),
        sa.Column("token", sa.String(40), nullable=False),
        *_fk("client_id", "clients", "fk_events_client_id_clients"),
        sa.Column("type", sa.String(40), nullable=False),
        *_fk("transfer_id", "transfers", "fk_events_transfer_id_transfers", nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("token", name=op.f("uq_events_token")),
    )
    op.create_index("ix_events_client_id_id", "events", ["client_id", "id"])
    op.create_index("ix_events_transfer_id", "events", ["transfer_id"])
    op.create_table(
        "balance_monitors",
        _id(),
        sa.Column("token", sa.String(40), nullable=False),
        *_fk("client_id", "clients", "fk_balance_monitors_client_id_clients"),
        *_fk("account_id", "accounts", "fk_balance_monitors_account_id_accounts"),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("threshold_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_balance_monitors")),
        sa.UniqueConstraint("token", name=op.f("uq_balance_monitors_token")),
    )
    op.create_index("ix_balance_monitors_account_id", "balance_monitors", ["account_id"])
    op.create_index("ix_balance_monitors_client_id_id", "balance_monitors", ["client_id", "id"])


def _endpoints() -> None:
    op.create_table(
        "webhook_endpoints",
        _id(),
        sa.Column("token", sa.String(40), nullable=False),
        *_fk("client_id", "clients", "fk_webhook_endpoints_client_id_clients"),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("event_types", sa.Text(), nullable=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("previous_secret", sa.String(100), nullable=True),
        sa.Column("previous_until", sa.DateTime(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("removed_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
        sa.UniqueConstraint("token", name=op.f("uq_webhook_endpoints_token")),
    )
    op.create_index("ix_webhook_endpoints_client_id", "webhook_endpoints", ["client_id"])


def _deliveries() -> None:
    op.create_table(
        "webhook_deliveries",
        _id(),
        *_fk(
            "endpoint_id",
            "webhook_endpoints",
            "fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        ),
        *_fk("event_id", "events", "fk_webhook_deliveries_event_id_events"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("last_status_code", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint_id_id", "webhook_deliveries", ["endpoint_id", "id"]
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    op.create_table(
        "webhook_attempts",
        _id(),
        *_fk(
            "delivery_id",
            "webhook_deliveries",
            "fk_webhook_attempts_delivery_id_webhook_deliveries",
        ),
        sa.Column("attempted_at", sa.DateTime(), nullable=False),
        sa.Column("status_code", sa.SmallInteger(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("response", sa.String(500), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
    cursor = op.create_table(
        "webhook_cursor",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_cursor")),
    )
    op.bulk_insert(cursor, [{"id": 1, "event_id": 0}])


def upgrade() -> None:
    _events()
    _endpoints()
    _deliveries()


def downgrade() -> None:
    for table in (
        "webhook_cursor",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
        "balance_monitors",
        "events",
    ):
        op.drop_table(table)
