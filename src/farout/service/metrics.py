"""Prometheus metrics of one app, in its own registry (so two apps in one
process, as in tests, do not share counters)."""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "farout_requests",
            "HTTP requests answered.",
            ["route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "farout_request_latency_seconds",
            "Time from request to answer.",
            ["route"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rows = Counter(
            "farout_rows_scored",
            "Rows scored and logged.",
            ["model", "shadow"],
            registry=self.registry,
        )
        self.alerts = Counter(
            "farout_alerts",
            "Flagged rows by severity.",
            ["model", "severity"],
            registry=self.registry,
        )
        self.served = Gauge(
            "farout_model_version",
            "The version that last answered for each model and alias.",
            ["model", "alias"],
            registry=self.registry,
        )
        self.batch = Histogram(
            "farout_batch_requests",
            "Requests scored together in one batch (one findings call per model, one commit).",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
            registry=self.registry,
        )
