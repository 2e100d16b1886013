"""Running the app for tests, benchmarks and scripts: a loopback server thread and a headless browser.

Not part of the app, and not tests either: `tests/`, `bench/` and `scripts/` all import from here.
"""
