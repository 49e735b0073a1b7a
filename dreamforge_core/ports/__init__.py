"""Ports: what the core needs from the outside world, one Protocol per file."""
