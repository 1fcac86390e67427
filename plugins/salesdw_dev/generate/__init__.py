"""Deterministic sample feeds for the three sources (the demo's and the tests' data)."""

from salesdw_dev.generate.feeds import generate

__all__ = ["generate"]
