"""Composition roots: settings, wiring of adapters into use cases, and the processes."""

__version__ = "0.1.0"
