"""Use cases: one class each, orchestrating ports. Their docstrings list their rules."""
