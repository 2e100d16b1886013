from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Tests never reach a real provider or upload traces, whatever the developer's shell has set.
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_DEFAULT_MODEL", "AGENT_API", "AGENT_TRANSPORT", "APP_PASSWORD"):
    os.environ.pop(name, None)
os.environ["AGENT_OFFLINE"] = "1"
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.setdefault("SESSION_DB_URL", ":memory:")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from devtools.server import offline_settings, serve  # noqa: E402


@pytest.fixture
def settings():
    return offline_settings()


@pytest.fixture
async def runtime(settings):
    """A fresh runtime; closed afterwards on the test's own loop, so no store connection outlives it
    (an aiosqlite connection left open warns "Event loop is closed" into a later test)."""
    from runtime import Runtime

    runtime = Runtime.from_settings(settings)
    yield runtime
    await runtime.aclose()  # a served app (live_app) has closed it already: closing twice is harmless


@pytest.fixture
def live_app(runtime):
    """Base URL of the whole app served on 127.0.0.1 with the offline model."""
    with serve(runtime) as url:
        yield url
