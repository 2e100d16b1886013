"""A turn's lease is freed when the turn ends, even when the store failed as it ended.

Without that, a chat whose turn ended during a store outage answered "still answering" (409) for the
lease's whole lifetime (30 s) after the store came back.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from conversations import ConversationBusy, open_store
from tests.services import service_url
from tests.test_stores import CuttableProxy, make_runtime


async def _turn_is_free(store, conversation_id: str) -> bool:
    try:
        async with store.turn(conversation_id):
            return True
    except ConversationBusy:
        return False


async def test_a_turn_ended_while_sqlite_refused_writes_frees_its_chat(tmp_path, monkeypatch):
    from conversations import sql_store

    monkeypatch.setattr(sql_store, "_LOCK_RETRY_DELAYS", ())  # fail after SQLite's own 5 s busy wait
    db = tmp_path / "chats.sqlite3"
    runtime = make_runtime(str(db))
    other = open_store(str(db), 3600)  # another app process on the same file
    for store in (runtime.store, other):
        store.lease_seconds = 600  # so that only a real release frees the chat, not the lease running out
    try:
        conversation = await runtime.store.create()
        blocker = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            async with runtime.store.turn(conversation.id):
                blocker.execute("BEGIN EXCLUSIVE")  # mid-turn the database stops taking writes
        finally:
            blocker.execute("COMMIT")  # and it is back
            blocker.close()
        started = time.monotonic()
        while not await _turn_is_free(other, conversation.id):
            assert time.monotonic() - started < 20, "the ended turn's lease was never dropped"
            await asyncio.sleep(0.1)  # polling with a deadline
        assert await _turn_is_free(runtime.store, conversation.id)
    finally:
        await other.close()
        await runtime.aclose()


async def test_a_turn_ended_while_redis_was_cut_frees_its_chat():
    from redis.asyncio.connection import parse_url

    real = parse_url(service_url("REDIS_URL"))
    proxy = CuttableProxy(real.get("host", "127.0.0.1"), real.get("port", 6379))
    await proxy.restore()
    runtime = make_runtime(f"redis://127.0.0.1:{proxy.port}/{real.get('db', 0)}")
    runtime.store.lease_seconds = 600
    try:
        conversation = await runtime.store.create()
        async with runtime.store.turn(conversation.id):
            await proxy.cut()  # Redis goes away mid-turn
        await proxy.restore()
        started = time.monotonic()
        while True:
            try:
                free = await _turn_is_free(runtime.store, conversation.id)
            except Exception:  # noqa: BLE001 - the client is still reconnecting
                free = False
            if free:
                break
            assert time.monotonic() - started < 5, "the chat stayed 'still answering' after Redis came back"
            await asyncio.sleep(0.05)  # polling with a deadline
    finally:
        await runtime.aclose()
        await proxy.cut()
