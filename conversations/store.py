"""The conversation store interface and the choice of backend from `SESSION_DB_URL`."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from agents.memory import Session

from .chat_state import ChatState

log = logging.getLogger(__name__)

STORE_DOWN = (
    "The conversation store is not reachable right now, so this message was not handled. "
    "Earlier messages are safe; try again shortly."
)
BUSY = "This chat is still answering the previous message. Wait for it or press Stop."


class StoreError(RuntimeError):
    """The conversation store could not be read or written; the message is safe to show."""


class ConversationBusy(RuntimeError):
    """Another turn of the same conversation is still running."""


@dataclass
class Conversation:
    """One chat: the SDK session holding its items, the agent it continues with, and small state.

    `state` holds what is not model input but belongs to the chat (see `ChatState`): refunds the demo
    tools granted, who answered each turn, a run waiting for a person's decision, what each turn showed.
    """

    id: str
    session: Session
    agent: str | None = None
    state: ChatState = field(default_factory=ChatState)


_RUNNING: set[asyncio.Future] = set()  # store operations finishing after their caller was cancelled


async def guard(awaitable, shield: bool = True):
    """Await a store operation; any backend failure becomes a `StoreError` with a safe message.

    The operation itself is shielded: a cancelled turn (Stop, a dropped client) stops waiting at once,
    but the operation runs to its end. Cancelled half-way, the SQL pool tears its connection down in a
    task nobody keeps (aiosqlite: "Task was destroyed but it is pending"), and a write is left half done.
    Not for taking a lease (`shield=False`): one taken after its taker left would block the chat.
    """
    if shield:
        operation = asyncio.ensure_future(awaitable)
        _RUNNING.add(operation)
        operation.add_done_callback(_finished)
        awaitable = asyncio.shield(operation)
    try:
        return await awaitable
    except (StoreError, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.warning("conversation store failed: %s", type(exc).__name__)
        raise StoreError(STORE_DOWN) from exc


async def finish_pending(timeout: float = 5.0) -> None:
    """Let store operations whose callers left (a stopped turn's last save) end before the store closes."""
    loop = asyncio.get_running_loop()
    pending = [operation for operation in _RUNNING if operation.get_loop() is loop]
    if pending:
        await asyncio.wait(pending, timeout=timeout)


def _finished(operation: asyncio.Future) -> None:
    _RUNNING.discard(operation)
    if not operation.cancelled():
        operation.exception()  # retrieved: a failure after the caller left is not "never retrieved"


class GuardedSession:
    """Mixin for an SDK session class: its reads and writes (made by the Runner mid-turn) fail as `StoreError`.

    Without it a Redis or database outage surfaces from `stream_events()` as a driver exception
    that reads like a model failure.
    """

    async def get_items(self, limit: int | None = None):
        return await guard(super().get_items(limit))  # type: ignore[misc]

    async def add_items(self, items) -> None:
        await guard(super().add_items(items))  # type: ignore[misc]

    async def pop_item(self):
        return await guard(super().pop_item())  # type: ignore[misc]

    async def clear_session(self) -> None:
        await guard(super().clear_session())  # type: ignore[misc]


def _is_text(value: str) -> bool:
    """Encodable as UTF-8 and free of control characters."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return value.isprintable()


def new_conversation_id() -> str:
    # Ids are capabilities (whoever has one can continue the chat), so they must be unguessable.
    return secrets.token_urlsafe(18)


class ConversationStore(abc.ABC):
    """Conversations by id, with expiry after `ttl_seconds` idle and one turn at a time per conversation.

    A turn holds an in-process lock plus, for shared backends, a lease in the store itself, so that
    several app processes on one store refuse a concurrent turn too. The lease lasts `lease_seconds`
    and is renewed while the turn runs: a crashed process blocks its chats for that long at most.
    """

    lease_seconds = 30.0
    ending_grace_seconds = 1.0  # how long a second turn waits for a running one before it is refused

    def __init__(self, ttl_seconds: float):
        self.ttl_seconds = ttl_seconds
        self._turn_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._last_sweep = 0.0
        # Leases this process could not drop when their turn ended (the store was failing then): dropped
        # before the chat's next turn here, and retried in the background for the other processes.
        self._undropped: dict[str, str] = {}
        self._retries: set[asyncio.Task] = set()

    @abc.abstractmethod
    def _session(self, conversation_id: str) -> Session: ...

    @abc.abstractmethod
    async def _load_meta(self, conversation_id: str) -> tuple[str | None, str | dict[str, Any]] | None:
        """(agent, state as stored: JSON text or its object) of a live conversation, or None when unknown or expired."""

    @abc.abstractmethod
    async def _save_meta(self, conversation_id: str, agent: str | None, state: ChatState) -> None: ...

    @abc.abstractmethod
    async def _expire(self, older_than: float) -> int:
        """Delete conversations idle since before `older_than` (epoch seconds); returns how many."""

    async def close(self) -> None:  # noqa: B027 - optional for backends that hold connections
        pass

    # Cross-process turn leases. The defaults suit a store only one process uses.
    async def _take_lease(self, conversation_id: str, token: str) -> bool:
        """Claim the conversation for one turn unless another live lease holds it."""
        return True

    async def _renew_lease(self, conversation_id: str, token: str) -> bool:
        """Extend our lease; False when it was lost (expired and taken)."""
        return True

    async def _drop_lease(self, conversation_id: str, token: str) -> None:  # noqa: B027
        pass

    async def create(self, conversation_id: str | None = None) -> Conversation:
        """A new conversation; under `conversation_id` when a client names it (AG-UI's threadId).

        A named one starts empty even if an expired chat not yet swept left items under that id.
        Call it for a named id while holding `turn(conversation_id)`, so two first requests cannot both create.
        """
        await self._maybe_sweep()
        named = conversation_id is not None
        conversation_id = conversation_id if named else new_conversation_id()
        conversation = Conversation(conversation_id, self._session(conversation_id))
        await self.save(conversation)  # first: it also makes a new database's tables
        if named:
            await self._guard(conversation.session.clear_session())
        return conversation

    async def get(self, conversation_id: str) -> Conversation | None:
        if not conversation_id or len(conversation_id) > 128 or not _is_text(conversation_id):
            return None  # cannot be an id we made (a lone surrogate would fail in the backend as an outage)
        meta = await self._guard(self._load_meta(conversation_id))
        if meta is None:
            return None
        agent, state = meta
        return Conversation(conversation_id, self._session(conversation_id), agent, ChatState.load(state, conversation_id))

    async def save(self, conversation: Conversation) -> None:
        await self._guard(self._save_meta(conversation.id, conversation.agent, conversation.state))

    async def items(self, conversation: Conversation) -> list[Any]:
        return await self._guard(conversation.session.get_items())

    async def rewind(self, conversation: Conversation, user_turns: int) -> int:
        """Drop the newest turns until `user_turns` user messages are left; returns how many items went.

        The chat's undo and retry buttons remove turns from the screen only; this brings the model's
        history back in line, so an undone answer is not remembered and a retried one not doubled.
        """
        items = await self.items(conversation)
        user_indexes = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("role") == "user"]
        if len(user_indexes) <= user_turns:
            return 0
        keep = user_indexes[user_turns]  # the first user message to drop, and everything after it
        for _ in range(len(items) - keep):
            await self._guard(conversation.session.pop_item())
        # The next turn starts with the agent that answered the last turn kept.
        conversation.agent = conversation.state.rewind(user_turns, len(user_indexes) - user_turns, conversation.agent)
        await self.save(conversation)
        return len(items) - keep

    def is_busy(self, conversation_id: str) -> bool:
        lock = self._turn_locks.get(conversation_id)
        return lock is not None and lock.locked()

    @asynccontextmanager
    async def turn(self, conversation_id: str) -> AsyncIterator[None]:
        """Serialize turns of one conversation: a second concurrent turn is refused, not interleaved."""
        lock = self._turn_locks.get(conversation_id)
        if lock is None:
            lock = self._turn_locks[conversation_id] = asyncio.Lock()
        try:
            # A turn that is ending (a dropped stream still cancelling its run) frees the chat in moments:
            # a client reconnecting right away waits for that instead of getting "still answering".
            await asyncio.wait_for(lock.acquire(), self.ending_grace_seconds if lock.locked() else None)
        except TimeoutError:
            raise ConversationBusy(BUSY) from None
        try:
            stale = self._undropped.pop(conversation_id, None)
            if stale is not None:  # our own last turn here ended while the store failed: it is over
                with contextlib.suppress(Exception):
                    await self._drop_lease(conversation_id, stale)
            token = secrets.token_hex(16)
            if not await self._guard(self._take_lease(conversation_id, token), shield=False):
                raise ConversationBusy(BUSY)
            keeper = asyncio.create_task(self._keep_lease(conversation_id, token))
            try:
                yield
            finally:
                keeper.cancel()
                # Shielded: a turn ends by cancellation too (Stop, a dropped client), and a write cut off
                # half-way can leave a SQLite transaction open.
                try:
                    await asyncio.shield(self._drop_lease(conversation_id, token))
                except Exception as exc:  # noqa: BLE001 - the store is failing; the turn reported it
                    log.warning("could not release a turn lease: %s", type(exc).__name__)
                    self._release_later(conversation_id, token)
        finally:
            lock.release()

    def _release_later(self, conversation_id: str, token: str) -> None:
        """A lease the ended turn could not drop: never let it say "still answering" once the store is back."""
        self._undropped[conversation_id] = token
        task = asyncio.get_running_loop().create_task(self._retry_drop(conversation_id, token))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry_drop(self, conversation_id: str, token: str) -> None:
        deadline = time.monotonic() + self.lease_seconds  # after that the lease has run out anyway
        delay = 0.25
        while time.monotonic() < deadline and self._undropped.get(conversation_id) == token:
            await asyncio.sleep(delay)
            try:
                await self._drop_lease(conversation_id, token)
            except Exception:  # noqa: BLE001 - still down; try again a little later
                delay = min(delay * 2, 4.0)
                continue
            if self._undropped.get(conversation_id) == token:
                del self._undropped[conversation_id]
            return

    async def _keep_lease(self, conversation_id: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                if not await self._renew_lease(conversation_id, token):
                    log.warning("a turn outlived its lease; another process may have taken the chat")
                    return
            except Exception as exc:  # noqa: BLE001 - a store outage; the turn itself will report it
                log.warning("could not renew a turn lease: %s", type(exc).__name__)

    async def _maybe_sweep(self) -> None:
        now = time.time()
        if now - self._last_sweep >= min(60.0, self.ttl_seconds):
            self._last_sweep = now
            await self._guard(self._expire(now - self.ttl_seconds))

    _guard = staticmethod(guard)
