"""The recording functions of caja.core.metrics, and multiprocess aggregation."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from caja.core import metrics


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_count_posted_adds_the_number_of_transfers() -> None:
    before = _value("caja_transfers_posted_total")

    metrics.count_posted(3)
    metrics.count_posted(0)
    metrics.count_posted(2)

    assert _value("caja_transfers_posted_total") == before + 5


def test_observe_batch_records_size_and_time() -> None:
    size_count = _value("caja_batch_size_count")
    up_to_4 = _value("caja_batch_size_bucket", le="4.0")
    up_to_8 = _value("caja_batch_size_bucket", le="8.0")
    seconds_count = _value("caja_batch_seconds_count")
    seconds_sum = _value("caja_batch_seconds_sum")

    metrics.observe_batch(5, 0.003)

    assert _value("caja_batch_size_count") == size_count + 1
    assert _value("caja_batch_size_bucket", le="4.0") == up_to_4
    assert _value("caja_batch_size_bucket", le="8.0") == up_to_8 + 1
    assert _value("caja_batch_size_bucket", le="1024.0") >= up_to_8 + 1
    assert _value("caja_batch_seconds_count") == seconds_count + 1
    assert abs(_value("caja_batch_seconds_sum") - seconds_sum - 0.003) < 1e-9


def test_commit_retry_and_failure_counters() -> None:
    commits = _value("caja_commit_seconds_count")
    retries = _value("caja_write_retries_total")
    conflicts = _value("caja_write_failures_total", reason="conflicts")
    failed_commits = _value("caja_write_failures_total", reason="commit")

    metrics.observe_commit(0.0015)
    metrics.count_retry()
    metrics.count_retry()
    metrics.count_write_failure("commit")

    assert _value("caja_commit_seconds_count") == commits + 1
    assert _value("caja_write_retries_total") == retries + 2
    assert _value("caja_write_failures_total", reason="commit") == failed_commits + 1
    assert _value("caja_write_failures_total", reason="conflicts") == conflicts


def test_observe_request_labels_and_buckets() -> None:
    count = "caja_http_request_duration_seconds_count"
    labels = {"route": "/unit/{thing}", "method": "GET", "status": "200"}
    other = {**labels, "method": "other"}
    before = _value(count, **labels)
    before_other = _value(count, **other)
    fast = _value("caja_http_request_duration_seconds_bucket", **labels, le="0.001")

    metrics.observe_request("/unit/{thing}", "GET", 200, 0.0007)
    metrics.observe_request("/unit/{thing}", "GET", 200, 0.3)
    metrics.observe_request("/unit/{thing}", "SPAM", 200, 0.3)

    assert _value(count, **labels) == before + 2
    assert _value("caja_http_request_duration_seconds_bucket", **labels, le="0.001") == fast + 1
    assert _value(count, **other) == before_other + 1
    assert _value(count, **{**labels, "method": "SPAM"}) == 0


def test_render_gives_the_text_format() -> None:
    body, content_type = metrics.render()

    assert content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"caja_batch_size", "caja_commit_seconds", "caja_write_retries"} <= names


_WORKER = textwrap.dedent(
    """
    import sys
    from caja.core import metrics

    metrics.count_posted(int(sys.argv[1]))
    metrics.observe_request("/mp", "POST", 201, 0.002)
    metrics.count_write_failure("conflicts")
    if len(sys.argv) > 2:
        sys.stdout.write(metrics.render()[0].decode())
    """
)


def test_multiprocess_mode_adds_up_every_process(tmp_path: Path) -> None:
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(*arguments: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _WORKER, *arguments],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return done.stdout

    run("2")
    text = run("3", "render")

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("caja_transfers_posted_total", ())] == 5
    assert samples[("caja_write_failures_total", (("reason", "conflicts"),))] == 2
    request = (("method", "POST"), ("route", "/mp"), ("status", "201"))
    assert samples[("caja_http_request_duration_seconds_count", request)] == 2
    assert len(list(tmp_path.glob("*.db"))) >= 2
