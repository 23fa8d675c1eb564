"""Settings from the environment."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

__all__ = [
    "DEFAULT_DATABASE_URL",
    "access_log",
    "batch_settings",
    "bench_endpoint",
    "database_settings",
    "database_url",
    "deposit_limits",
    "operator_settings",
    "reconcile_settings",
    "serve_settings",
    "shared_secret_missing",
    "wallet_settings",
    "webhook_settings",
    "webhooks_allow_private",
]

DEFAULT_DATABASE_URL = "sqlite:///caja.db"


def database_url() -> str:
    """``CAJA_DATABASE_URL``: ``sqlite:///path.db`` (default ``caja.db`` here),
    ``postgresql://user:password@host:port/name``, or libpq's multi-host form
    ``postgresql://user:password@h1:p1,h2:p2/name?target_session_attrs=read-write``."""
    return os.environ.get("CAJA_DATABASE_URL", DEFAULT_DATABASE_URL)


def access_log() -> bool:
    """``CAJA_ACCESS_LOG=0`` turns the JSON request log off (metrics stay on)."""
    return os.environ.get("CAJA_ACCESS_LOG", "1") != "0"


def bench_endpoint() -> bool:
    """``CAJA_BENCH_ENDPOINT=1`` adds ``POST /_bench/empty``, the benchmark's baseline."""
    return os.environ.get("CAJA_BENCH_ENDPOINT") == "1"


def batch_settings() -> dict[str, Any]:
    """How transfers are grouped into transactions (see docs/performance.md).

    ``CAJA_BATCH_MAX_SIZE`` (default 256) operations at most per transaction;
    ``CAJA_BATCH_MAX_WAIT_MS`` (default 0) how long a batch waits for more once it has
    one; ``CAJA_BATCH_CONCURRENCY`` (default 1) batches in flight per process on
    PostgreSQL (SQLite writes one at a time).
    """
    settings: dict[str, Any] = {}
    size = os.environ.get("CAJA_BATCH_MAX_SIZE")
    if size:
        settings["max_size"] = int(size)
    wait = os.environ.get("CAJA_BATCH_MAX_WAIT_MS")
    if wait:
        settings["max_wait"] = int(wait) / 1000
    concurrency = os.environ.get("CAJA_BATCH_CONCURRENCY")
    if concurrency:
        settings["concurrency"] = int(concurrency)
    return settings


def _whole(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number, not {raw!r}")
    return int(raw)


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """How long caja waits on the database, in seconds (see docs/reliability.md)."""

    connect: float
    statement: float
    lock: float
    commit: float
    pool: float
    idle_in_transaction: float
    reconnect: float
    ready: float


def database_settings() -> DatabaseSettings:
    """Every wait on the database is bounded; each bound in milliseconds:
    ``CAJA_DATABASE_CONNECT_TIMEOUT_MS`` (default 5000) to open a connection;
    ``CAJA_DATABASE_STATEMENT_TIMEOUT_MS`` (10000) for one statement;
    ``CAJA_DATABASE_LOCK_TIMEOUT_MS`` (2000) to wait for a locked row (on SQLite, for
    another process's write lock); ``CAJA_DATABASE_COMMIT_TIMEOUT_MS`` (10000) for the
    answer to a COMMIT; ``CAJA_DATABASE_POOL_TIMEOUT_MS`` (5000) for a free pooled
    connection; ``CAJA_DATABASE_IDLE_IN_TRANSACTION_MS`` (30000) before PostgreSQL ends a
    session idle in a transaction; ``CAJA_DATABASE_RECONNECT_MS`` (15000) to reach a
    primary again and learn whether a commit whose answer was lost is in the database;
    ``CAJA_READY_TIMEOUT_MS`` (900) for ``/readyz``'s write probe."""
    return DatabaseSettings(
        connect=_whole("CAJA_DATABASE_CONNECT_TIMEOUT_MS", 5_000) / 1000,
        statement=_whole("CAJA_DATABASE_STATEMENT_TIMEOUT_MS", 10_000) / 1000,
        lock=_whole("CAJA_DATABASE_LOCK_TIMEOUT_MS", 2_000) / 1000,
        commit=_whole("CAJA_DATABASE_COMMIT_TIMEOUT_MS", 10_000) / 1000,
        pool=_whole("CAJA_DATABASE_POOL_TIMEOUT_MS", 5_000) / 1000,
        idle_in_transaction=_whole("CAJA_DATABASE_IDLE_IN_TRANSACTION_MS", 30_000) / 1000,
        reconnect=_whole("CAJA_DATABASE_RECONNECT_MS", 15_000) / 1000,
        ready=_whole("CAJA_READY_TIMEOUT_MS", 900) / 1000,
    )


@dataclass(frozen=True, slots=True)
class OperatorSettings:
    url: str | None
    timeout_seconds: float


def operator_settings() -> OperatorSettings:
    """``CAJA_OPERATOR_URL``: the mobile operator gateway; unset, the server runs the
    sandbox operator itself, at ``/sandbox/operator``. ``CAJA_OPERATOR_TIMEOUT_MS``
    (default 10000): how long a call may take before its outcome is unknown."""
    return OperatorSettings(
        os.environ.get("CAJA_OPERATOR_URL") or None,
        _whole("CAJA_OPERATOR_TIMEOUT_MS", 10_000) / 1000,
    )


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    interval_seconds: float
    min_age: timedelta
    not_found_after: timedelta


def reconcile_settings() -> ReconcileSettings:
    """How the server settles top-ups left open: every ``CAJA_RECONCILE_INTERVAL_MS``
    (default 60000; 0 turns it off) it asks the operator about purchases older than
    ``CAJA_RECONCILE_MIN_AGE_S`` (default 30); one the operator never received is
    rejected after ``CAJA_RECONCILE_NOT_FOUND_S`` (default 120)."""
    return ReconcileSettings(
        _whole("CAJA_RECONCILE_INTERVAL_MS", 60_000) / 1000,
        timedelta(seconds=_whole("CAJA_RECONCILE_MIN_AGE_S", 30)),
        timedelta(seconds=_whole("CAJA_RECONCILE_NOT_FOUND_S", 120)),
    )


# Decreto 2555 de 2010, Parte 2, Libro 1, Título 15 (articles 2.1.15.1.1 and following, as
# amended), on electronic deposits with simplified procedure: by default caja lets such an
# account receive, send and hold at most 210.50 UVT a month; the UVT for 2026 is 52,374
# pesos (DIAN). See docs/deposit-api.md.
UVT_PESOS = 52_374
LIMIT_UVT_HUNDREDTHS = 21_050


@dataclass(frozen=True, slots=True)
class DepositLimits:
    monthly_in_minor: int
    monthly_out_minor: int
    max_balance_minor: int


def deposit_limits() -> DepositLimits:
    """Limits of electronic deposit accounts, in whole pesos: ``CAJA_DEPOSIT_MONTHLY_IN``,
    ``CAJA_DEPOSIT_MONTHLY_OUT`` and ``CAJA_DEPOSIT_MAX_BALANCE``, each by default
    210.50 UVT (``CAJA_DEPOSIT_UVT``, default 52,374 pesos): 11,024,727 pesos."""
    default = _whole("CAJA_DEPOSIT_UVT", UVT_PESOS) * LIMIT_UVT_HUNDREDTHS // 100
    return DepositLimits(
        _whole("CAJA_DEPOSIT_MONTHLY_IN", default) * 100,
        _whole("CAJA_DEPOSIT_MONTHLY_OUT", default) * 100,
        _whole("CAJA_DEPOSIT_MAX_BALANCE", default) * 100,
    )


@dataclass(frozen=True, slots=True)
class WalletSettings:
    jwt_secret: str
    token_seconds: int
    assets: list[str]


def wallet_settings() -> WalletSettings:
    """``CAJA_WALLET_JWT_SECRET`` signs the wallet's log-in tokens (HS256); unset, each
    process makes a random one, so tokens end with the process and one worker cannot read
    another's: set it in production. ``CAJA_WALLET_TOKEN_SECONDS`` (default 900) is how long
    a token lives; ``CAJA_WALLET_ASSETS`` (default ``COP``; e.g. ``COP,USD``) the assets
    each new wallet account holds."""
    secret = os.environ.get("CAJA_WALLET_JWT_SECRET", "")
    if not secret:
        logging.getLogger("caja.config").warning(
            "CAJA_WALLET_JWT_SECRET is not set: wallet tokens are signed with a random "
            "secret of this process"
        )
        secret = secrets.token_urlsafe(32)
    elif len(secret) < 32:
        raise ValueError("CAJA_WALLET_JWT_SECRET must have at least 32 characters")
    raw = os.environ.get("CAJA_WALLET_ASSETS", "COP")
    held = [code.strip().upper() for code in raw.split(",") if code.strip()]
    if not held or any(not code.isalpha() or len(code) > 8 for code in held):
        raise ValueError(f"CAJA_WALLET_ASSETS must list asset codes such as COP,USD, not {raw!r}")
    return WalletSettings(secret, _whole("CAJA_WALLET_TOKEN_SECONDS", 900), held)


# How ``caja serve`` starts, drains and guards its connections (docs/operations.md).


@dataclass(frozen=True, slots=True)
class ServeSettings:
    drain_seconds: float
    graceful_seconds: int
    header_timeout_seconds: float
    keep_alive_seconds: int


def serve_settings() -> ServeSettings:
    """``CAJA_DRAIN_SECONDS`` (default 2): after SIGTERM, how long the server keeps
    answering while ``/readyz`` says not ready, so that a load balancer stops sending;
    ``CAJA_GRACEFUL_SECONDS`` (default 20): then how long requests in flight may take;
    ``CAJA_HEADER_TIMEOUT_SECONDS`` (default 5): how long a connection may take to send
    a request's head before it is closed; ``CAJA_KEEP_ALIVE_SECONDS`` (default 5): how
    long an idle connection is kept open (keep it above a load balancer's own idle time,
    so that the balancer, not the server, closes an idle connection)."""
    return ServeSettings(
        _seconds("CAJA_DRAIN_SECONDS", 2.0),
        _whole("CAJA_GRACEFUL_SECONDS", 20),
        _seconds("CAJA_HEADER_TIMEOUT_SECONDS", 5.0),
        _whole("CAJA_KEEP_ALIVE_SECONDS", 5),
    )


def _seconds(name: str, default: float, *, positive: bool = False) -> float:
    """A duration in seconds (not money: a float is fine here), under an hour; with
    ``positive``, above 0 and up to an hour."""
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    within = 0 < value <= 3600 if positive else 0 <= value < 3600
    if not within:
        above = " above 0" if positive else ""
        raise ValueError(f"{name} must be a number of seconds{above}, not {raw!r}")
    return value


def shared_secret_missing(workers: int, url: str) -> bool:
    """Whether a server of ``workers`` processes on ``url`` lacks the wallet's shared
    secret: with several processes, or several hosts on a cluster URL (a host part
    with a comma), a token signed by one process must be read by the others."""
    hosts = url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    clustered = workers > 1 or "," in hosts
    return clustered and not os.environ.get("CAJA_WALLET_JWT_SECRET")


# How the webhook runner delivers events (docs/operations.md, "Webhook delivery").

DEFAULT_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
RUNNER_MODES = ("process", "off")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    # Seconds before each retry; after the last, the delivery fails.
    retry_schedule: tuple[float, ...]
    allow_private: bool
    timeout: float
    poll: float
    # "process": ``caja serve`` runs the runner as a child process; "off": it does not.
    runner: str
    concurrency: int


def webhook_settings() -> WebhookSettings:
    """``CAJA_WEBHOOKS_RETRY_SCHEDULE`` (default ``5,300,1800,7200,18000,36000,36000``,
    27.6 hours in all, at least 24.8 with the jitter): the seconds before each retry of a
    failed delivery, each times a random 0.9 to 1.1; ``CAJA_WEBHOOKS_ALLOW_PRIVATE=1``
    lets endpoints be loopback or private addresses (the sandbox and tests);
    ``CAJA_WEBHOOKS_TIMEOUT_SECONDS`` (default 10) for an answer;
    ``CAJA_WEBHOOKS_POLL_SECONDS`` (default 0.5) between two looks for work when there is
    none; ``CAJA_WEBHOOKS_RUNNER`` (``process``, the default, or ``off``) whether
    ``caja serve`` starts the runner; ``CAJA_WEBHOOKS_CONCURRENCY`` (default 32)
    deliveries in flight per runner."""
    raw = os.environ.get("CAJA_WEBHOOKS_RUNNER") or "process"
    if raw not in RUNNER_MODES:
        raise ValueError(f"CAJA_WEBHOOKS_RUNNER must be process or off, not {raw!r}")
    concurrency = _whole("CAJA_WEBHOOKS_CONCURRENCY", 32)
    if not 1 <= concurrency <= 1000:
        raise ValueError("CAJA_WEBHOOKS_CONCURRENCY must be between 1 and 1000")
    return WebhookSettings(
        retry_schedule=_schedule(),
        allow_private=webhooks_allow_private(),
        timeout=_seconds("CAJA_WEBHOOKS_TIMEOUT_SECONDS", 10.0, positive=True),
        poll=_seconds("CAJA_WEBHOOKS_POLL_SECONDS", 0.5, positive=True),
        runner=raw,
        concurrency=concurrency,
    )


def _schedule() -> tuple[float, ...]:
    name = "CAJA_WEBHOOKS_RETRY_SCHEDULE"
    raw = os.environ.get(name)
    if not raw:
        return DEFAULT_RETRY_SCHEDULE
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        values = ()
    if not values or any(not 0 <= value <= 7 * 86_400 for value in values):
        raise ValueError(
            f"{name} must list the seconds before each retry, such as 5,300,1800, not {raw!r}"
        )
    return values


def webhooks_allow_private() -> bool:
    """``CAJA_WEBHOOKS_ALLOW_PRIVATE=1`` lets webhook endpoints be loopback or private
    addresses (the sandbox and tests set it); unset, such URLs are refused."""
    return os.environ.get("CAJA_WEBHOOKS_ALLOW_PRIVATE") == "1"
