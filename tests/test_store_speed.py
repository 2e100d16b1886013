"""The SQLite store's commits do not wait for the disk: WAL with synchronous=NORMAL on every connection.

With SQLite's default (FULL) each commit fsyncs (about 7 ms here), a turn commits about seven times and
there is one writer, so simultaneous chats queued behind each other's flushes (issue 16).
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager

import httpx
from agents.extensions.memory import SQLAlchemySession
from sqlalchemy import event, text

from conversations import open_store
from conversations.sql_store import SQLITE_CONNECTIONS
from tests.counting_server import counting_server


async def test_sqlite_store_connections_use_wal_without_fsync_per_commit(tmp_path):
    store = open_store(str(tmp_path / "chats.sqlite3"), 3600)
    try:
        conversation = await store.create()
        await conversation.session.add_items([{"role": "user", "content": "hi"}])
        async with store.engine.connect() as connection:
            synchronous = (await connection.execute(text("PRAGMA synchronous"))).scalar()
            journal = (await connection.execute(text("PRAGMA journal_mode"))).scalar()
        assert (synchronous, journal) == (1, "wal")  # 1 is NORMAL
    finally:
        await store.close()


async def test_sqlite_item_writes_from_two_processes_keep_every_item_in_order(tmp_path):
    """The SDK session's writes go in two statements on SQLite (conversations/sql_store.py): the upsert of the
    session row holds other writers off, so concurrent writers of one chat lose nothing and keep their order."""
    url = str(tmp_path / "chats.sqlite3")
    one, other = open_store(url, 3600), open_store(url, 3600)  # two processes, one file
    try:
        conversation = await one.create()
        sessions = [one._session(conversation.id), other._session(conversation.id)]

        async def write(writer: int) -> None:
            for n in range(20):
                await sessions[writer].add_items([{"role": "user", "content": f"{writer}-{n}-a"}, {"role": "user", "content": f"{writer}-{n}-b"}])

        await asyncio.gather(write(0), write(1))
        # Read back through the SDK's own session class: same tables, same rows.
        contents = [item["content"] for item in await SQLAlchemySession(conversation.id, engine=other.engine).get_items()]
        assert len(contents) == 80
        for writer in (0, 1):
            mine = [c for c in contents if c.startswith(f"{writer}-")]
            assert mine == [f"{writer}-{n}-{part}" for n in range(20) for part in "ab"]
        async with one.engine.connect() as connection:
            rows = (await connection.execute(text("SELECT count(*) FROM agent_sessions WHERE session_id = :id"), {"id": conversation.id})).scalar()
        assert rows == 1
        assert await sessions[0].pop_item() == {"role": "user", "content": contents[-1]}  # the SDK's pop on our rows
    finally:
        await one.close()
        await other.close()


async def test_a_burst_of_chats_opens_no_more_sqlite_connections_than_the_pool_holds(tmp_path):
    """SQLite has one writer and each aiosqlite connection is a thread: twenty chats at once share two
    connections instead of opening (and running the PRAGMAs of) a new one for every burst."""
    store = open_store(str(tmp_path / "chats.sqlite3"), 3600)
    opened = []
    event.listen(store.engine.sync_engine, "connect", lambda *_: opened.append(1))
    try:

        async def chat() -> None:
            conversation = await store.create()
            async with store.turn(conversation.id):
                await store.items(conversation)
                await conversation.session.add_items([{"role": "user", "content": "hi"}])
                await store.save(conversation)

        for _ in range(3):
            await asyncio.gather(*(chat() for _ in range(20)))
        assert 1 <= len(opened) <= SQLITE_CONNECTIONS
    finally:
        await store.close()


def test_an_api_turn_reads_its_chat_row_twice_not_three_times(tmp_path):
    """The route reads the chat, then again under the turn's lease (approvals decided elsewhere); the turn
    itself trusts that second read instead of making a third."""
    with contextmanager(counting_server)(str(tmp_path / "chats.sqlite3"), demo_tokens_per_second=0) as server:
        store = server.runtime.store
        read = store._load_meta
        reads = []

        async def counted(conversation_id: str):
            reads.append(conversation_id)
            return await read(conversation_id)

        with httpx.Client(base_url=server.url, timeout=60) as client:
            first = client.post("chat", json={"message": "Hello"})
            assert first.status_code == 200
            store._load_meta = counted  # counts the store's reads of a chat row; each still reads
            second = client.post("chat", json={"message": "Thanks", "session_id": first.json()["session_id"]})
            assert second.status_code == 200
        assert reads == [first.json()["session_id"]] * 2


async def test_sqlite_history_reads_as_the_sdk_reads_it(tmp_path):
    """On SQLite the whole history is read in one Core statement: the same items, in the same order, as the
    SDK's own read, a corrupted row skipped as the SDK skips it; limited reads are the SDK's."""
    store = open_store(str(tmp_path / "chats.sqlite3"), 3600)
    try:
        conversation = await store.create()
        await conversation.session.add_items([{"role": "user", "content": f"m{n}"} for n in range(5)])
        async with store.engine.begin() as connection:
            await connection.execute(text("INSERT INTO agent_messages (session_id, message_data) VALUES (:id, '{broken')"),
                                     {"id": conversation.id})
        await conversation.session.add_items([{"role": "assistant", "content": "last"}])
        sdk = SQLAlchemySession(conversation.id, engine=store.engine)
        ours = await conversation.session.get_items()
        assert ours == await sdk.get_items()
        assert [item["content"] for item in ours] == ["m0", "m1", "m2", "m3", "m4", "last"]
        assert await conversation.session.get_items(limit=2) == await sdk.get_items(limit=2)
    finally:
        await store.close()
