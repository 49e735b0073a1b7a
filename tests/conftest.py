"""Fixtures every test directory may use: real services started or reached for the tests."""

pytest_plugins = ["tests.support.postgres", "tests.support.seaweed"]
