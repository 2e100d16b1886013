"""The conversation store interface and the choice of backend from `SESSION_DB_URL`."""

from __future__ import annotations

import abc
import asyncio
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.memory import Session


class StoreError(RuntimeError):
    """The conversation store could not be read or written; the message is safe to show."""


class ConversationBusy(RuntimeError):
    """Another turn of the same conversation is still running."""


@dataclass
class Conversation:
    """One chat: the SDK session holding its items, the agent it continues with, and small state.

    `state` holds what is not model input but belongs to the chat: refunds the demo tools granted
    (see `ChatContext`), and whatever the UI needs to show the chat again.
    """

    id: str
    session: Session
    agent: str | None = None
    state: dict[str, Any] = field(default_factory=dict)


def new_conversation_id() -> str:
    # Ids are capabilities (whoever has one can continue the chat), so they must be unguessable.
    return secrets.token_urlsafe(18)


class ConversationStore(abc.ABC):
    def __init__(self, ttl_seconds: float):
        self.ttl_seconds = ttl_seconds
        self._turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._last_sweep = 0.0

    @abc.abstractmethod
    def _session(self, conversation_id: str) -> Session: ...

    @abc.abstractmethod
    async def _load_meta(self, conversation_id: str) -> tuple[str | None, dict[str, Any]] | None:
        """(agent, state) of a live conversation, or None when unknown or expired."""

    @abc.abstractmethod
    async def _save_meta(self, conversation_id: str, agent: str | None, state: dict[str, Any]) -> None: ...

    @abc.abstractmethod
    async def _expire(self, older_than: float) -> int:
        """Delete conversations idle since before `older_than` (epoch seconds); returns how many."""

    async def close(self) -> None:  # noqa: B027 - optional for backends that hold connections
        pass

    async def create(self) -> Conversation:
        await self._maybe_sweep()
        conversation_id = new_conversation_id()
        conversation = Conversation(conversation_id, self._session(conversation_id))
        await self.save(conversation)
        return conversation

    async def get(self, conversation_id: str) -> Conversation | None:
        if not conversation_id or len(conversation_id) > 128:
            return None
        meta = await self._guard(self._load_meta(conversation_id))
        if meta is None:
            return None
        agent, state = meta
        return Conversation(conversation_id, self._session(conversation_id), agent, state)

    async def save(self, conversation: Conversation) -> None:
        await self._guard(self._save_meta(conversation.id, conversation.agent, conversation.state))

    async def items(self, conversation: Conversation) -> list[Any]:
        return await self._guard(conversation.session.get_items())

    def is_busy(self, conversation_id: str) -> bool:
        lock = self._turn_locks.get(conversation_id)
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[None]:
        """Serialize turns of one conversation: a second concurrent turn is refused, not interleaved."""
        lock = self._turn_locks.get(conversation_id)
        if lock is None:
            lock = self._turn_locks[conversation_id] = asyncio.Lock()
        if lock.locked():
            raise ConversationBusy("This chat is still answering the previous message. Wait for it or press Stop.")
        async with lock:
            yield

    async def _maybe_sweep(self) -> None:
        now = time.time()
        if now - self._last_sweep >= min(60.0, self.ttl_seconds):
            self._last_sweep = now
            await self._guard(self._expire(now - self.ttl_seconds))

    @staticmethod
    async def _guard(awaitable):
        try:
            return await awaitable
        except (StoreError, asyncio.CancelledError):
            raise
        except Exception as exc:
            raise StoreError("The conversation store is not available right now; nothing was lost. Try again shortly.") from exc


def open_store(url: str, ttl_seconds: float) -> ConversationStore:
    """`SESSION_DB_URL`: a file path, `:memory:`, `redis://…`, or a SQLAlchemy URL."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisConversationStore

        return RedisConversationStore(url, ttl_seconds)
    from .sql_store import SQLConversationStore

    if url == ":memory:":
        return SQLConversationStore("sqlite+aiosqlite://", ttl_seconds)
    if "://" not in url:
        path = Path(url).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        return SQLConversationStore(f"sqlite+aiosqlite:///{path}", ttl_seconds)
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"), ("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            url = driver + url[len(plain):]
    return SQLConversationStore(url, ttl_seconds)
