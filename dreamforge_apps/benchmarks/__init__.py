"""Benchmarks that print figures (`dreamforge bench …`, `make bench`, the soak).

Nothing the services run imports this package (an import-linter contract checks it).
"""
