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

from contextlib import ExitStack

from conversations import open_store
from devtools.browser import NetworkGuard, launch
from devtools.server import offline_settings, serve
from tests.counting_server import counting_server
from tests.services import require_chromium, service_url


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


# --- the whole app with a counting demo model (tests/counting_server.py), paced for what a test checks ---


@pytest.fixture(scope="module")
def fast():
    """As fast as possible, counting model calls."""
    yield from counting_server(demo_tokens_per_second=0)


@pytest.fixture
def slow(tmp_path):
    """A 30 s tool holds a turn open. A SQLite file, not ':memory:': a run cancelled mid-write loses the whole
    in-memory database (its one shared connection is closed). One per test, so a run that a test leaves
    behind cannot slow the next one."""
    yield from counting_server(str(tmp_path / "chats.sqlite3"), demo_tool_latency=30)


@pytest.fixture(scope="module")
def stalling():
    """One token a second against a 0.5 s stall limit: the model "stalls" before its first word."""
    yield from counting_server(demo_tokens_per_second=1, stall_timeout=0.5)


@pytest.fixture(scope="module")
def locked():
    """APP_PASSWORD set to "pw"."""
    yield from counting_server(demo_tokens_per_second=0, app_password="pw")


# --- stores --------------------------------------------------------------------------------------------


@pytest.fixture
async def store():
    store = open_store(":memory:", 3600)
    yield store
    await store.close()


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "chats.sqlite3")
    return service_url("REDIS_URL" if request.param == "redis" else "POSTGRES_URL")


@pytest.fixture
async def demo():
    """The offline demo team, with its cancel_subscription runs counted: (runtime, executions)."""
    from tests.test_approvals import Executions, make_runtime

    executions = Executions()
    runtime = make_runtime(executions=executions)
    yield runtime, executions
    await runtime.aclose()


# --- a real browser (Debian's Chromium) -----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the whole module: launching one costs more than most tests here."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = launch(playwright)
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def start_app():
    """Serves a runtime for one test; the server outlives the test's pages (see `new_context`)."""
    with ExitStack() as stack:
        yield lambda runtime: stack.enter_context(serve(runtime))


@pytest.fixture
def new_context(browser, start_app):
    """Opens fresh browser contexts (separate users), each behind its own network guard.

    It depends on `start_app` so that pages close before the server stops: a server cannot shut
    down gracefully while a page holds a connection open.
    """
    opened = []

    def open_context():
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        guard = NetworkGuard().install(context)
        opened.append((context, guard))
        return context, guard

    yield open_context
    for context, guard in opened:
        context.close()
        assert guard.outside == [], f"the page tried to reach outside hosts: {guard.outside}"


@pytest.fixture
def page(new_context):
    context, _ = new_context()
    return context.new_page()
