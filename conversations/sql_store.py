"""SQL backend: the SDK's SQLAlchemySession (SQLite file by default, Postgres for replicas).

The app's own rows (the chat's agent and state, the turn leases) are two tables next to the SDK's; on SQLite
they are written through aiosqlite directly (sqlite_tables.py), on other databases through SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from agents.extensions.memory import SQLAlchemySession
from agents.memory.session_settings import resolve_session_limit
from sqlalchemy import Column, Float, MetaData, String, Table, Text, delete, event, insert, select
from sqlalchemy import text as sql_text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .chat_state import ChatState
from .sqlite_tables import SQLiteTables
from .store import ConversationStore, GuardedSession, finish_pending

log = logging.getLogger(__name__)


class StoreConfigError(ValueError):
    """SESSION_DB_URL cannot work (its folder cannot be made or written); the message says why."""


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and SQLite in memory)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def check_sqlite_file(path: Path) -> None:
    """Make the file's folder and prove it takes writes, at start-up: not at the first message."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        if path.exists():
            with path.open("r+b"):
                pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a part of its folder's path is a file, not a folder"
        raise StoreConfigError(f"SESSION_DB_URL: cannot write the conversation database {path} ({reason}).") from None

_metadata = MetaData()
# The SDK's tables hold the model items; this one holds what the SDK has no place for.
_chats = Table(
    "chat_conversations",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("agent", String(128)),
    Column("state", Text, nullable=False, default="{}"),
    Column("updated_at", Float, nullable=False, index=True),
)
# Who runs a turn of which chat, so app processes sharing one database refuse concurrent turns.
# A table of its own (not columns on the one above) so databases made before it still work.
_leases = Table(
    "chat_turn_leases",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
)


_T = TypeVar("_T")
SQLITE_CONNECTIONS = 2
_LOCK_RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8)


async def _retry_when_locked(write: Callable[[], Awaitable[_T]]) -> _T:
    """Run a write, again a few times while SQLite says "database is locked".

    The SDK puts SQLite in WAL mode, where a writer can be refused at once instead of waiting
    (its own writes retry the same way); this is a short wait, not a failure.
    """
    for delay in (*_LOCK_RETRY_DELAYS, None):
        try:
            return await write()
        except (OperationalError, sqlite3.OperationalError) as exc:
            if delay is None or "database is locked" not in str(exc).lower():
                raise
        await asyncio.sleep(delay)
    raise AssertionError("unreachable")


def _sqlite_commits_without_fsync(dbapi_connection, _record) -> None:
    """WAL with synchronous=NORMAL: a commit no longer waits for the disk (about 7 ms each here).

    A turn commits about seven times (the chat, its lease, the SDK's items), and SQLite has one writer:
    with every commit fsynced, twenty simultaneous chats queued behind each other's disk flushes for
    seconds. In WAL mode NORMAL cannot corrupt the database; a power cut (not an app crash) may lose
    the last commits. (The SDK sets WAL too; set here as well, as NORMAL is only safe with it.)
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _upsert(engine: AsyncEngine, table: Table):
    """`INSERT ... ON CONFLICT` for the engine's dialect (SQLite and Postgres both have it; None for others)."""
    dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(engine.dialect.name)
    return dialect.insert(table) if dialect is not None else None


class _LeanSQLiteSession(SQLAlchemySession):
    """The SDK's session, with its `add_items` in two statements on SQLite (the Runner calls it twice a turn).

    The SDK's own `add_items` serializes writers portably: through an ORM session it touches the session
    row, reads it, locks it for update, inserts the items and touches the row again (five statements).
    SQLite has one writer per file: the first write of a transaction takes it, so one upsert of the session
    row both creates it and holds every other writer off until the items are in. Same tables, same rows,
    same order (ids ascend); other databases keep the SDK's path.
    """

    async def add_items(self, items) -> None:
        if not items or self._engine.dialect.name != "sqlite":
            return await super().add_items(items)
        rows = [{"session_id": self.session_id, "message_data": await self._serialize_item(item)} for item in items]
        touch = (
            sqlite.insert(self._sessions)
            .values(session_id=self.session_id)
            .on_conflict_do_update(index_elements=["session_id"], set_={"updated_at": sql_text("CURRENT_TIMESTAMP")})
        )

        async def write() -> None:
            async with self._engine.begin() as connection:
                await connection.execute(touch)
                await connection.execute(insert(self._messages), rows)

        await _retry_when_locked(write)

    async def get_items(self, limit: int | None = None) -> list[Any]:
        """On SQLite the whole history in one Core statement: the SDK reads it through an ORM session, whose
        transaction bookkeeping cost about 1 ms more per read (twice a turn). Limited reads keep the SDK's path."""
        if self._engine.dialect.name != "sqlite" or resolve_session_limit(limit, self.session_settings) is not None:
            return await super().get_items(limit)
        messages = self._messages
        query = (
            select(messages.c.message_data)
            .where(messages.c.session_id == self.session_id)
            .order_by(messages.c.created_at.asc(), messages.c.id.asc())  # the SDK's order
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).scalars().all()
        items = []
        for raw in rows:
            with contextlib.suppress(json.JSONDecodeError):  # as the SDK: a corrupted row is skipped
                items.append(await self._deserialize_item(raw))
        return items


class _AlchemyTables:
    """The app's two tables through SQLAlchemy (Postgres, or any other database): SQLiteTables' operations."""

    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def load(self, conversation_id: str) -> tuple[str | None, str, float] | None:
        """(agent, state JSON, updated_at) of the chat's row, or None."""
        async with self._engine.connect() as connection:
            row = (await connection.execute(
                select(_chats.c.agent, _chats.c.state, _chats.c.updated_at).where(_chats.c.id == conversation_id)
            )).first()
        return tuple(row) if row is not None else None  # type: ignore[return-value]

    async def save(self, conversation_id: str, agent: str | None, state: str, updated_at: float) -> None:
        values = {"agent": agent, "state": state, "updated_at": updated_at}
        upsert = _upsert(self._engine, _chats)
        async with self._engine.begin() as connection:
            if upsert is not None:  # one statement, where the dialect has it
                await connection.execute(upsert.values(id=conversation_id, **values).on_conflict_do_update(index_elements=["id"], set_=values))
                return
            updated = await connection.execute(_chats.update().where(_chats.c.id == conversation_id).values(**values))
            if updated.rowcount == 0:
                await connection.execute(_chats.insert().values(id=conversation_id, **values))

    async def expire(self, older_than: float, now: float) -> list[str]:
        """Delete the chats idle since before `older_than` (their ids) and every expired lease."""
        async with self._engine.begin() as connection:
            ids = (await connection.execute(select(_chats.c.id).where(_chats.c.updated_at < older_than))).scalars().all()
            if ids:
                await connection.execute(delete(_chats).where(_chats.c.id.in_(ids)))
            await connection.execute(delete(_leases).where(_leases.c.expires_at < now))
        return list(ids)

    async def take_lease(self, conversation_id: str, token: str, now: float, expires_at: float) -> bool:
        lease = {"token": token, "expires_at": expires_at}
        upsert = _upsert(self._engine, _leases)
        async with self._engine.begin() as connection:
            if upsert is None:  # a dialect without ON CONFLICT: clear an expired lease, then insert
                await connection.execute(delete(_leases).where(_leases.c.id == conversation_id, _leases.c.expires_at < now))
                try:
                    await connection.execute(_leases.insert().values(id=conversation_id, **lease))
                except IntegrityError:
                    return False
                return True
            # One statement, atomic on the primary key: insert the lease, or take over an expired one;
            # a live lease of another turn is left alone and no row changes.
            taken = await connection.execute(
                upsert.values(id=conversation_id, **lease).on_conflict_do_update(
                    index_elements=["id"], set_=lease, where=_leases.c.expires_at < now
                )
            )
        return taken.rowcount == 1

    async def renew_lease(self, conversation_id: str, token: str, expires_at: float) -> bool:
        async with self._engine.begin() as connection:
            renewed = await connection.execute(
                _leases.update().where(_leases.c.id == conversation_id, _leases.c.token == token).values(expires_at=expires_at)
            )
        return renewed.rowcount == 1

    async def drop_lease(self, conversation_id: str, token: str) -> None:
        async with self._engine.begin() as connection:
            await connection.execute(delete(_leases).where(_leases.c.id == conversation_id, _leases.c.token == token))

    async def reset(self) -> None:  # the store disposes of the engine's connections itself
        pass

    async def close(self) -> None:
        pass


class _Session(GuardedSession, _LeanSQLiteSession):
    """The SDK's SQL session, failing as `StoreError` when the database does."""


class SQLConversationStore(ConversationStore):
    def __init__(self, url: str, ttl_seconds: float):
        super().__init__(ttl_seconds)
        self._scratch: str | None = None
        if url in ("sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"):
            # ":memory:" is a private file that is deleted on close, not SQLite's in-memory database:
            # that lives on one shared connection, where concurrent turns trip over each other's
            # transactions and one cancelled write can lose the whole database.
            self._scratch = tempfile.mkdtemp(prefix="conversations-")
            url = f"sqlite+aiosqlite:///{os.path.join(self._scratch, 'conversations.sqlite3')}"
        self._file = sqlite_file(url)
        # SQLite has one writer, and each aiosqlite connection is a thread of its own: more than two only add
        # threads taking turns at the interpreter lock, and SQLAlchemy's default overflow opens (and runs the
        # PRAGMAs of) a new connection for every burst. Two connections: 20 chats' store work 14 -> 8 ms CPU each.
        # (No code path here or in the SDK's session holds one connection while it asks for another.)
        pool = {"pool_size": SQLITE_CONNECTIONS, "max_overflow": 0} if url.startswith("sqlite") else {}
        self.engine = create_async_engine(url, **pool)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_commits_without_fsync)
        # Made now, before any connection: the SDK adds its own "connect" listener to the engine when
        # its first session object is made. Made later, by a turn while another turn's connection runs
        # the listeners, SQLAlchemy fails that connection ("deque mutated during iteration").
        SQLAlchemySession("_schema", engine=self.engine)  # configures the engine for the SDK; no I/O
        # The app's own rows: through aiosqlite on SQLite (sqlite_tables.py), through SQLAlchemy elsewhere.
        self._tables = SQLiteTables(self._file) if self._file is not None else _AlchemyTables(self.engine)
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._live_sessions: weakref.WeakValueDictionary[str, SQLAlchemySession] = weakref.WeakValueDictionary()

    async def _ensure_tables(self) -> None:
        if self._ready and self._file is not None and not self._file.parent.is_dir():
            # The database's folder was deleted under us: SQLite cannot open it again, and every request
            # would fail until a restart. Start a new database in a new folder (the old chats are gone).
            log.warning("the conversation database's folder was deleted; starting a new, empty database")
            self._file.parent.mkdir(parents=True, exist_ok=True)
            await self.engine.dispose()
            await self._tables.reset()
            self._ready = False
        if self._ready:
            return
        async with self._ready_lock:  # concurrent first requests must not race to create the tables
            if not self._ready:
                async with self.engine.begin() as connection:
                    await connection.run_sync(_metadata.create_all)
                # Creating one SDK session with create_tables makes the SDK's own tables.
                await SQLAlchemySession("_schema", engine=self.engine, create_tables=True).get_items(limit=1)
                self._ready = True

    def _session(self, conversation_id: str) -> SQLAlchemySession:
        # The SDK builds its table objects per session instance (about 0.3 ms): a chat read again during
        # its turn (the approvals refresh, the API's own lookup) reuses the live chat's instance.
        session = self._live_sessions.get(conversation_id)
        if session is None:
            session = self._live_sessions[conversation_id] = _Session(conversation_id, engine=self.engine, create_tables=False)
        return session

    async def _load_meta(self, conversation_id: str):
        await self._ensure_tables()
        row = await self._tables.load(conversation_id)
        if row is None:
            return None
        agent, state, updated_at = row
        return None if updated_at < time.time() - self.ttl_seconds else (agent, state)

    async def _save_meta(self, conversation_id: str, agent: str | None, state: ChatState) -> None:
        await self._ensure_tables()
        text = state.model_dump_json()
        await _retry_when_locked(lambda: self._tables.save(conversation_id, agent, text, time.time()))

    async def _expire(self, older_than: float) -> int:
        await self._ensure_tables()
        ids = await _retry_when_locked(lambda: self._tables.expire(older_than, time.time()))
        for conversation_id in ids:
            await self._session(conversation_id).clear_session()
        return len(ids)

    async def _take_lease(self, conversation_id: str, token: str) -> bool:
        await self._ensure_tables()

        async def take() -> bool:
            now = time.time()
            return await self._tables.take_lease(conversation_id, token, now, now + self.lease_seconds)

        return await _retry_when_locked(take)

    async def _renew_lease(self, conversation_id: str, token: str) -> bool:
        return await _retry_when_locked(
            lambda: self._tables.renew_lease(conversation_id, token, time.time() + self.lease_seconds)
        )

    async def _drop_lease(self, conversation_id: str, token: str) -> None:
        await _retry_when_locked(lambda: self._tables.drop_lease(conversation_id, token))

    async def close(self) -> None:
        await finish_pending()
        await self._tables.close()
        await self.engine.dispose()
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
