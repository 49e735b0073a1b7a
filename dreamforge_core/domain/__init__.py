"""Entities and rules of the job domain."""
