"""Helpers shared by test packages: real services started for the duration of a test run."""
