"""Where conversations live between turns: the SDK's own session stores plus a little metadata.

`open_store` picks the backend from `SESSION_DB_URL`; the backends import only `store` (no cycle).
"""

from pathlib import Path

from .sql_store import SQLConversationStore, StoreConfigError, check_sqlite_file, sqlite_file
from .store import Conversation, ConversationBusy, ConversationStore, StoreError

__all__ = ["Conversation", "ConversationBusy", "ConversationStore", "StoreConfigError", "StoreError", "open_store"]


def open_store(url: str, ttl_seconds: float) -> ConversationStore:
    """`SESSION_DB_URL`: a file path, `:memory:`, `redis://…`, or a SQLAlchemy URL."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis_store import RedisConversationStore  # only when asked for: the default needs no Redis client

        return RedisConversationStore(url, ttl_seconds)
    if url == ":memory:":
        return SQLConversationStore("sqlite+aiosqlite://", ttl_seconds)
    if "://" not in url:
        url = f"sqlite+aiosqlite:///{Path(url).expanduser()}"
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"), ("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            url = driver + url[len(plain):]
    if (path := sqlite_file(url)) is not None:
        check_sqlite_file(path)  # a StoreConfigError (one clear line) now, not a 503 on every message
    return SQLConversationStore(url, ttl_seconds)
