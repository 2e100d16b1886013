"""Benchmarks (`python -m bench`): this app's streaming paths against the SDK floor and a naive handler.

See docs/performance.md for the figures and how they are measured.
"""
