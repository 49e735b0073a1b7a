"""Prometheus metrics for the API and the worker."""

from dreamforge_adapters.prometheus.metrics import PrometheusMetrics

__all__ = ["PrometheusMetrics"]
