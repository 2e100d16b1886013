"""What a test needs from outside Python (Redis, PostgreSQL, Chromium), and the one rule when it is missing.

Locally a missing service skips the test; in CI (any `CI` value but "", "0", "false", "no") it fails,
so a CI machine that lost a service cannot pass by skipping everything that needed it.
"""

from __future__ import annotations

import os

import pytest

from devtools.browser import chromium_missing_reason


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_in_ci(reason: str) -> None:
    """A needed service is missing: fail in CI, skip elsewhere. Never returns."""
    if in_ci():
        pytest.fail(f"{reason} (required in CI: .ci/run installs and starts it)", pytrace=False)
    pytest.skip(reason)


def service_url(name: str) -> str:
    """The URL in the environment variable `name` (REDIS_URL, POSTGRES_URL), or skip/fail by the rule above."""
    url = os.environ.get(name, "").strip()
    if not url:
        require_in_ci(f"{name} is not set")
    return url


def require_chromium() -> None:
    reason = chromium_missing_reason()
    if reason:
        require_in_ci(reason)
