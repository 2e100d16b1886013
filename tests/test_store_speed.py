"""The SQLite store's commits do not wait for the disk: WAL with synchronous=NORMAL on every connection.

With SQLite's default (FULL) each commit fsyncs (about 7 ms here), a turn commits about seven times and
there is one writer, so simultaneous chats queued behind each other's flushes (issue 16).
"""

from __future__ import annotations

import asyncio

from agents.extensions.memory import SQLAlchemySession
from sqlalchemy import text

from conversations import open_store


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
