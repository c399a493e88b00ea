"""Prometheus metrics; multi-process aware when PROMETHEUS_MULTIPROC_DIR is set (gunicorn)."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("matchgraph_http_requests_total", "HTTP requests", ["endpoint", "status"])
LATENCY = Histogram("matchgraph_http_request_seconds", "HTTP request latency", ["endpoint"],
                    buckets=(0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
SEARCH_SECONDS = Histogram("matchgraph_search_seconds", "Engine search time (embedding included)",
                           buckets=(0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 1))
SEARCHES = Counter("matchgraph_searches_total", "Searches answered")
ZERO_RESULTS = Counter("matchgraph_zero_result_searches_total", "Searches with no result")
FEEDBACK = Counter("matchgraph_feedback_total", "Feedback events", ["event"])
FEEDBACK_REJECTED = Counter("matchgraph_feedback_rejected_total",
                            "Feedback events refused (unknown search, artifact not served)", ["reason"])
FEEDBACK_BATCH = Histogram("matchgraph_feedback_batch_events", "Events per POST /v1/feedback:batch",
                           buckets=(1, 5, 10, 25, 50, 100, 250, 500))


def exposition(multiprocess_dir: object = None) -> tuple[bytes, str]:
    """The metrics page; with the `prometheus_multiproc_dir` setting, merged over every gunicorn worker."""
    if multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(multiprocess_dir))
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
