"""The SQLite store's commits do not wait for the disk: WAL with synchronous=NORMAL on every connection.

With SQLite's default (FULL) each commit fsyncs (about 7 ms here), a turn commits about seven times and
there is one writer, so simultaneous chats queued behind each other's flushes (issue 16).
"""

from __future__ import annotations

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
