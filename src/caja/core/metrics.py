"""Prometheus metrics of the server and the small functions that record them.

The metrics live in prometheus_client's default registry. When
``PROMETHEUS_MULTIPROC_DIR`` is set before this module is first imported (``caja serve
--workers N`` with N > 1 sets it for its workers), prometheus_client keeps every value in
a per-process file in that directory and :func:`render` adds up all the processes' files.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "BATCH_SECONDS",
    "BATCH_SIZE",
    "COMMIT_SECONDS",
    "HTTP_REQUEST_DURATION",
    "TRANSFERS_POSTED",
    "WRITE_FAILURES",
    "WRITE_RETRIES",
    "count_posted",
    "count_retry",
    "count_write_failure",
    "observe_batch",
    "observe_commit",
    "observe_request",
    "render",
]

# Read once, as prometheus_client chooses its value storage once, at import.
_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUEST_DURATION = Histogram(
    "caja_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template.",
    ("route", "method", "status"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
)
BATCH_SIZE = Histogram(
    "caja_batch_size",
    "Operations per ledger batch.",
    buckets=tuple(2**power for power in range(11)),
)
_WRITE_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
BATCH_SECONDS = Histogram(
    "caja_batch_seconds",
    "Time of a ledger batch's write transaction.",
    buckets=_WRITE_BUCKETS,
)
COMMIT_SECONDS = Histogram(
    "caja_commit_seconds",
    "Time of the COMMIT of a write transaction.",
    buckets=_WRITE_BUCKETS,
)
TRANSFERS_POSTED = Counter(
    "caja_transfers_posted",
    "Transfers written by ledger batches.",
)
WRITE_RETRIES = Counter(
    "caja_write_retries",
    "Write transactions run again after a conflict the database reported.",
)
WRITE_FAILURES = Counter(
    "caja_write_failures",
    "Write transactions given up: retries ran out (conflicts) or the COMMIT failed (commit).",
    ("reason",),
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_request_children: dict[tuple[str, str, int], Histogram] = {}
_failure_children = {reason: WRITE_FAILURES.labels(reason) for reason in ("conflicts", "commit")}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Record one HTTP request; ``route`` must be a template or ``unmatched``.

    Methods outside the standard set are recorded as ``other`` so a client cannot add
    label values at will.
    """
    key = (route, method, status)
    child = _request_children.get(key)
    if child is None:
        label = method if method in _METHODS else "other"
        child = HTTP_REQUEST_DURATION.labels(route, label, str(status))
        if label == method:
            _request_children[key] = child
    child.observe(seconds)


def observe_batch(size: int, seconds: float) -> None:
    """Record one ledger batch: its number of operations and its transaction's time."""
    BATCH_SIZE.observe(size)
    BATCH_SECONDS.observe(seconds)


def observe_commit(seconds: float) -> None:
    COMMIT_SECONDS.observe(seconds)


def count_posted(n: int) -> None:
    if n:
        TRANSFERS_POSTED.inc(n)


def count_retry() -> None:
    WRITE_RETRIES.inc()


def count_write_failure(reason: str) -> None:
    """``reason`` is ``conflicts`` (retries ran out) or ``commit`` (the COMMIT failed)."""
    child = _failure_children.get(reason)
    if child is None:
        child = _failure_children[reason] = WRITE_FAILURES.labels(reason)
    child.inc()


def render() -> tuple[bytes, str]:
    """The exposition text of every metric and its content type.

    In multiprocess mode the values of every process that wrote to the directory are
    added up into a registry made for this one scrape.
    """
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
