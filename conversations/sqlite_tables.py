"""The app's own two tables on SQLite (chat rows, turn leases), written through aiosqlite directly.

The tables are the ones conversations/sql_store.py defines for every database (it creates them), so a file
reads the same whichever code wrote it. Through SQLAlchemy's async engine each of these statements cost about
1.2 ms of CPU (a pool checkout, a transaction, five thread hops); here it is one statement in autocommit on
one connection, about 0.2 ms, and a turn makes six of them (issue 16). Every statement is atomic on its own,
so sharing the connection between chats needs no lock; other processes on the same file wait for SQLite's
write lock (busy timeout) as they do through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiosqlite

BUSY_TIMEOUT = 5.0  # seconds a statement waits for another writer (SQLite's busy timeout)


class SQLiteTables:
    def __init__(self, path: Path):
        self._path = path
        self._connection: aiosqlite.Connection | None = None
        self._opening = asyncio.Lock()
        self._closed = False

    async def _db(self) -> aiosqlite.Connection:
        if self._closed:
            raise RuntimeError("the conversation store is closed")  # a late caller must not open a new connection
        if self._connection is None:
            async with self._opening:
                if self._connection is None:
                    connection = await aiosqlite.connect(self._path, timeout=BUSY_TIMEOUT, isolation_level=None)
                    # As the store's other connections (sql_store._sqlite_commits_without_fsync): WAL, no fsync
                    # per commit.
                    await connection.execute("PRAGMA journal_mode = WAL")
                    await connection.execute("PRAGMA synchronous = NORMAL")
                    self._connection = connection
        return self._connection

    async def _run(self, sql: str, parameters: tuple) -> int:
        """Run one statement; the number of rows it changed."""
        cursor = await (await self._db()).execute(sql, parameters)
        try:
            return cursor.rowcount
        finally:
            await cursor.close()

    async def load(self, conversation_id: str) -> tuple[str | None, str, float] | None:
        """(agent, state JSON, updated_at) of the chat's row, or None."""
        rows = await (await self._db()).execute_fetchall(
            "SELECT agent, state, updated_at FROM chat_conversations WHERE id = ?", (conversation_id,)
        )
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]

    async def save(self, conversation_id: str, agent: str | None, state: str, updated_at: float) -> None:
        await self._run(
            "INSERT INTO chat_conversations (id, agent, state, updated_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET "
            "agent = excluded.agent, state = excluded.state, updated_at = excluded.updated_at",
            (conversation_id, agent, state, updated_at),
        )

    async def expire(self, older_than: float, now: float) -> list[str]:
        """Delete the chats idle since before `older_than` (their ids) and every expired lease."""
        rows = await (await self._db()).execute_fetchall(  # RETURNING: SQLite 3.35 (2021) and later
            "DELETE FROM chat_conversations WHERE updated_at < ? RETURNING id", (older_than,)
        )
        await self._run("DELETE FROM chat_turn_leases WHERE expires_at < ?", (now,))
        return [row[0] for row in rows]

    async def take_lease(self, conversation_id: str, token: str, now: float, expires_at: float) -> bool:
        # One statement, atomic on the primary key: insert the lease or take over an expired one; a live
        # lease of another turn is left alone and no row changes.
        taken = await self._run(
            "INSERT INTO chat_turn_leases (id, token, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at "
            "WHERE chat_turn_leases.expires_at < ?",
            (conversation_id, token, expires_at, now),
        )
        return taken == 1

    async def renew_lease(self, conversation_id: str, token: str, expires_at: float) -> bool:
        renewed = await self._run(
            "UPDATE chat_turn_leases SET expires_at = ? WHERE id = ? AND token = ?",
            (expires_at, conversation_id, token),
        )
        return renewed == 1

    async def drop_lease(self, conversation_id: str, token: str) -> None:
        await self._run("DELETE FROM chat_turn_leases WHERE id = ? AND token = ?", (conversation_id, token))

    async def reset(self) -> None:
        """Close the connection; the next statement opens a new one (after the file's folder was deleted)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()

    async def close(self) -> None:
        """Close for good: a statement after this fails instead of opening a connection nobody would close."""
        self._closed = True
        await self.reset()
