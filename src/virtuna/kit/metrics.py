"""Prometheus metrics: one registry per process, recorded by hooks any layer may call.

Metric objects are module-level (prometheus-client's model) but touch nothing outside the
process. With several uvicorn workers each process keeps its own counters; scrape each, or
set ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

from prometheus_client import REGISTRY as DEFAULT_REGISTRY
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY: CollectorRegistry = DEFAULT_REGISTRY

HTTP_REQUESTS = Counter(
    "virtuna_http_requests_total",
    "HTTP requests by route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "virtuna_http_request_duration_seconds",
    "HTTP request latency by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ANALYSES = Counter(
    "virtuna_analyses_total",
    "Served analyses by input mode and confidence.",
    ["mode", "confidence"],
)
STAGE_DURATION = Histogram(
    "virtuna_engine_stage_duration_seconds", "Engine stage durations.", ["stage"]
)
LLM_CALLS = Counter(
    "virtuna_llm_calls_total", "LLM calls by provider and outcome.", ["provider", "outcome"]
)
LLM_COST_CENTS = Counter("virtuna_llm_cost_cents_total", "LLM spend in cents.", ["provider"])
BREAKER_OPEN = Gauge(
    "virtuna_llm_breaker_open", "1 while a provider's breaker is open.", ["provider"]
)
JOB_RUNS = Counter(
    "virtuna_job_runs_total", "Finished job runs by job and status.", ["job", "status"]
)
JOB_DURATION = Histogram(
    "virtuna_job_duration_seconds",
    "Job run durations.",
    ["job"],
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
WEBHOOKS = Counter(
    "virtuna_webhook_deliveries_total",
    "Webhook deliveries by source and outcome.",
    ["source", "outcome"],
)
QUOTA_REJECTIONS = Counter("virtuna_quota_rejections_total", "Requests refused by quota.", ["plan"])


def record_llm_call(provider: str, outcome: str, cost_cents: float = 0.0) -> None:
    """Hook for the LLM caller: one attempt, its ledger outcome (ok, timeout, http_error,
    connection_error, bad_output, breaker_open) and its cost."""
    LLM_CALLS.labels(provider=provider, outcome=outcome).inc()
    if cost_cents > 0:
        LLM_COST_CENTS.labels(provider=provider).inc(cost_cents)


def record_stage(stage: str, seconds: float) -> None:
    STAGE_DURATION.labels(stage=stage).observe(max(seconds, 0.0))


def record_analysis(mode: str, confidence_label: str) -> None:
    ANALYSES.labels(mode=mode, confidence=confidence_label).inc()


def set_breaker(provider: str, is_open: bool) -> None:
    BREAKER_OPEN.labels(provider=provider).set(1 if is_open else 0)


def render() -> bytes:
    return generate_latest(REGISTRY)
