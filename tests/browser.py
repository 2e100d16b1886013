"""Kept for imports written before devtools/ existed; the helpers live in devtools.browser."""

from devtools.browser import *  # noqa: F401,F403
from devtools.browser import chromium_missing_reason, launch  # noqa: F401
from tests.services import in_ci  # noqa: F401
