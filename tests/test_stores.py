"""Durable conversations against real backends: a SQLite file, Redis and PostgreSQL.

Redis and Postgres tests need REDIS_URL / POSTGRES_URL (`.ci/run` starts both and exports them);
without them they are skipped locally and fail in CI (tests/services.py).
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import func, select

from conversations import Conversation, ConversationBusy, StoreError, open_store
from conversations.store import STORE_DOWN
from devtools.server import offline_settings, serve
from runtime import Runtime
from streaming.events import Error, Handoff
from streaming.turn import run_turn
from tests.services import require_chromium, service_url

BILLING = "I was charged twice on invoice INV-1001, can you refund me?"
FOLLOW_UP = "Was it paid?"  # names no invoice: only a chat that remembers INV-1001 answers about it


async def poll(check, timeout: float = 10.0, interval: float = 0.05):
    """Await `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(interval)


def make_runtime(url: str, **overrides) -> Runtime:
    return Runtime.from_settings(offline_settings(session_db_url=url, **overrides))


async def one_turn(runtime: Runtime, conversation: Conversation, message: str) -> list:
    async with runtime.store.turn(conversation.id):
        return [event async for event in run_turn(runtime.team, runtime.store, conversation, message, runtime.limits)]


def assert_remembers_invoice(events: list) -> None:
    done = events[-1]
    assert done.last_agent == "Billing Agent"
    assert "INV-1001" in done.final
    assert not any(isinstance(event, Handoff) for event in events), "the chat should continue with Billing Agent"


async def test_conversation_survives_a_restart(store_url):
    first = make_runtime(store_url)
    conversation = await first.store.create()
    await one_turn(first, conversation, BILLING)
    stored = len(await first.store.items(conversation))
    await first.aclose()

    second = make_runtime(store_url)  # a restarted process: new engine or client, same database
    try:
        again = await second.store.get(conversation.id)
        assert again is not None
        assert again.agent == "Billing Agent"
        assert again.state.tool_state == {"refunds": {"INV-1001": "RF-1001-01"}, "cancellations": []}
        assert len(await second.store.items(again)) == stored
        assert_remembers_invoice(await one_turn(second, again, FOLLOW_UP))
        assert len(await second.store.items(again)) > stored
    finally:
        await second.aclose()


async def test_closing_the_store_lets_a_stopped_turns_last_save_finish(store_url):
    """A Stop cancels the caller of the turn's last save, not the save (store.guard shields it); shutting
    down right after must let that save end before the connections close, and open none afterwards."""
    store = open_store(store_url, 3600)
    conversation = await store.create()
    conversation.agent = "Billing Agent"
    caller = asyncio.create_task(store.save(conversation))
    await asyncio.sleep(0)  # one turn of the loop: the save has started
    caller.cancel()
    await store.close()
    if store_url.endswith(".sqlite3"):
        with pytest.raises(StoreError):
            await store.get(conversation.id)  # a closed store opens no new connection (nobody would close it)
    again = open_store(store_url, 3600)  # a restarted process
    try:
        assert (await again.get(conversation.id)).agent == "Billing Agent"
    finally:
        await again.close()


async def test_two_stores_refuse_a_concurrent_turn(store_url):
    one, other = open_store(store_url, 3600), open_store(store_url, 3600)  # two processes, one database
    try:
        conversation = await one.create()
        async with one.turn(conversation.id):
            with pytest.raises(ConversationBusy):
                async with other.turn(conversation.id):
                    pass
        async with other.turn(conversation.id):  # released when the first turn ended
            pass
    finally:
        await one.close()
        await other.close()


async def test_a_crashed_turn_frees_the_chat_when_its_lease_runs_out(store_url):
    crashed, survivor = open_store(store_url, 3600), open_store(store_url, 3600)
    crashed.lease_seconds = survivor.lease_seconds = 0.5
    try:
        conversation = await crashed.create()
        assert await crashed._take_lease(conversation.id, "a-process-that-died")  # never dropped

        async def free() -> bool:
            try:
                async with survivor.turn(conversation.id):
                    return True
            except ConversationBusy:
                return False

        assert not await free()
        await poll(free, timeout=5)
    finally:
        await crashed.close()
        await survivor.close()


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_sql_store_sweeps_idle_conversations(kind, tmp_path):
    from conversations.sql_store import _chats

    url = str(tmp_path / "chats.sqlite3") if kind == "sqlite" else service_url("POSTGRES_URL")
    store = open_store(url, ttl_seconds=1)
    try:
        idle = [await store.create() for _ in range(3)]
        for conversation in idle:
            await conversation.session.add_items([{"role": "user", "content": "hello"}])

        async def all_expired() -> bool:
            return all([await store.get(c.id) is None for c in idle])

        await poll(all_expired, timeout=5)
        fresh = await store.create()  # creating is what triggers the sweep
        ids = [c.id for c in idle] + [fresh.id]
        async with store.engine.connect() as connection:
            left = (await connection.execute(select(func.count()).where(_chats.c.id.in_(ids)))).scalar_one()
        assert left == 1
        assert all([await store._session(c.id).get_items() == [] for c in idle])
    finally:
        await store.close()


async def test_redis_expires_every_key_of_an_idle_conversation():
    store = open_store(service_url("REDIS_URL"), ttl_seconds=1)
    try:
        conversation = await store.create()
        await conversation.session.add_items([{"role": "user", "content": "hello"}])
        await store.save(conversation)
        keys = await store.client.keys(f"*{conversation.id}*")
        assert len(keys) >= 2  # the metadata and the SDK's items
        assert all([0 < await store.client.pttl(key) <= 1000 for key in keys])

        async def gone() -> bool:
            return not await store.client.keys(f"*{conversation.id}*")

        await poll(gone, timeout=5)
        assert await store.get(conversation.id) is None
    finally:
        await store.close()


def test_two_app_processes_share_one_redis():
    url = service_url("REDIS_URL")
    # Separate runtimes, nothing shared but Redis. The second streams slower, so a turn there is
    # still running when the first one is asked to start another.
    first, second = make_runtime(url), make_runtime(url, demo_tokens_per_second=150.0)
    with serve(first) as one, serve(second) as other:
        started = httpx.post(one + "chat", json={"message": BILLING}, timeout=30).json()
        assert started["last_agent"] == "Billing Agent"

        continued = httpx.post(other + "chat", json={"message": FOLLOW_UP, "session_id": started["session_id"]}, timeout=30)
        assert continued.status_code == 200
        body = continued.json()
        assert body["last_agent"] == "Billing Agent"
        assert "INV-1001" in body["final"]
        assert not any(event["type"] == "handoff" for event in body["events"])

        # While a turn streams on one process, the other refuses a turn of the same chat (409).
        session_id = started["session_id"]
        with httpx.stream("POST", other + "chat/stream", json={"message": BILLING, "session_id": session_id}, timeout=30) as stream:
            lines = stream.iter_lines()
            for line in lines:
                if line.startswith("data:") and json.loads(line[5:])["type"] != "session":
                    break  # past the session event: the turn holds its lease now
            refused = httpx.post(one + "chat", json={"message": FOLLOW_UP, "session_id": session_id}, timeout=30)
            assert refused.status_code == 409
            assert "still answering" in refused.json()["detail"]
            assert any('"type": "done"' in line for line in lines)

        async def user_messages() -> int:
            store = open_store(url, 3600)
            try:
                items = await store.items(await store.get(session_id))
                return sum(1 for item in items if item.get("role") == "user")
            finally:
                await store.close()

        assert asyncio.run(user_messages()) == 3  # the refused turn left nothing in the history


class CuttableProxy:
    """A TCP relay in front of Redis: `cut()` makes Redis unreachable for the app, `restore()` brings it back."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers.update({writer, upstream_writer})

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()
                self._writers.discard(sink)

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def test_redis_down_gives_a_clear_error_and_loses_nothing():
    from redis.asyncio.connection import parse_url

    real = parse_url(service_url("REDIS_URL"))
    proxy = CuttableProxy(real.get("host", "127.0.0.1"), real.get("port", 6379))
    await proxy.restore()
    runtime = make_runtime(f"redis://127.0.0.1:{proxy.port}/{real.get('db', 0)}")
    try:
        conversation = await runtime.store.create()
        await one_turn(runtime, conversation, BILLING)
        stored = await runtime.store.items(conversation)

        await proxy.cut()
        with pytest.raises(StoreError, match="not reachable"):
            await runtime.store.get(conversation.id)
        with pytest.raises(StoreError):
            await runtime.store.create()
        with pytest.raises(StoreError):  # the SDK session the Runner uses fails the same readable way
            await conversation.session.get_items()
        # Mid-conversation (the turn began before Redis went down): the SDK's own session reads fail
        # inside the run; the turn still ends with a clear note.
        events = [event async for event in run_turn(runtime.team, runtime.store, conversation, FOLLOW_UP, runtime.limits)]
        errors = [event.message for event in events if isinstance(event, Error)]
        assert STORE_DOWN in errors
        assert all("redis" not in message.lower() for message in errors)

        await proxy.restore()
        back = await poll(lambda: _get_or_none(runtime, conversation.id))
        assert await runtime.store.items(back) == stored
        assert back.agent == "Billing Agent"
        assert_remembers_invoice(await one_turn(runtime, back, FOLLOW_UP))
    finally:
        await runtime.aclose()
        await proxy.cut()


async def _get_or_none(runtime: Runtime, conversation_id: str):
    try:
        return await runtime.store.get(conversation_id)
    except StoreError:
        return None


def test_unreachable_redis_fails_fast_with_a_clear_message():
    from devtools.server import free_port

    async def attempt() -> float:
        store = open_store(f"redis://127.0.0.1:{free_port()}/0", 3600)  # nothing listens there
        started = time.monotonic()
        try:
            with pytest.raises(StoreError, match="Earlier messages are safe"):
                await store.create()
        finally:
            await store.close()
        return time.monotonic() - started

    assert asyncio.run(attempt()) < 15  # seconds, not minutes of retries (the client's connect limit is 2 s)


@pytest.mark.browser
def test_an_open_tab_continues_its_chat_after_a_restart(tmp_path):
    """A real browser tab, the app restarted under it, and the chat moved between the UI and the HTTP API."""
    from playwright.sync_api import sync_playwright

    from devtools import browser as chrome
    from devtools.server import free_port

    require_chromium()
    port = free_port()  # the restarted app must come back where the tab looks
    url = str(tmp_path / "chats.sqlite3")
    id_box = "#chat-id input, #chat-id textarea"

    def handoffs(chat) -> int:
        return sum(1 for note in chat.notes() if "Handoff" in note["title"])

    with sync_playwright() as playwright:
        browser = chrome.launch(playwright)
        try:
            context = browser.new_context()
            guard = chrome.NetworkGuard().install(context)
            with serve(make_runtime(url), port) as base:
                chat = chrome.GradioChat(context.new_page(), base)
                chat.ask(BILLING)
                chat.page.get_by_text("Developer: chat id and API").click()  # the id box sits in this accordion
                chat_id = chat.page.locator(id_box).input_value()
                assert chat_id and handoffs(chat) == 1

            with serve(make_runtime(url), port) as base:  # a new process: new runtime, empty Gradio state
                assert "INV-1001" in chat.ask(FOLLOW_UP)
                assert chat.user_messages() == [BILLING, FOLLOW_UP]  # the older turn stays on screen
                assert handoffs(chat) == 1  # continued with Billing Agent: no second handoff
                assert chat.page.locator(id_box).input_value() == chat_id

                # UI → API: the shown id is the API's session_id.
                api = httpx.post(base + "chat", json={"message": FOLLOW_UP, "session_id": chat_id}, timeout=30).json()
                assert api["session_id"] == chat_id and api["last_agent"] == "Billing Agent"
                assert "INV-1001" in api["final"]

                # API → UI: a fresh tab given an API conversation's id continues it.
                started = httpx.post(base + "chat", json={"message": BILLING}, timeout=30).json()
                other = chrome.GradioChat(context.new_page(), base)
                other.page.get_by_text("Developer: chat id and API").click()  # the id box sits in this accordion
                other.page.locator(id_box).fill(started["session_id"])
                assert "INV-1001" in other.ask(FOLLOW_UP)
                assert handoffs(other) == 0
                context.close()
            assert guard.outside == []
        finally:
            browser.close()


@pytest.mark.parametrize("url", [":memory:", "file"])
async def test_a_chat_adds_no_connection_hook_to_the_sql_engine(url, tmp_path):
    # SQLAlchemy runs an engine's "connect" hooks in a loop that awaits (each one sends a PRAGMA): a hook
    # added meanwhile fails that connection with "deque mutated during iteration", and the message that
    # opened it got a 503 (CI, four /chat requests at once). The SDK adds its hook when its first
    # session object is made, so the store makes one before any connection, never during a chat.
    store = open_store(str(tmp_path / "chats.sqlite3") if url == "file" else url, 3600)
    try:
        hooks = list(store.engine.sync_engine.pool.dispatch.connect)
        conversation = await store.create()
        await store.items(conversation)
        assert list(store.engine.sync_engine.pool.dispatch.connect) == hooks
    finally:
        await store.close()
