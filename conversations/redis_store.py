"""Redis backend: the SDK's RedisSession for model items, one JSON string per chat for the rest.

Every key of a conversation carries the same TTL, refreshed on each save, so Redis itself
expires idle chats: there is nothing to sweep and the store cannot grow without bound.
"""

from __future__ import annotations

import json
import math
from typing import Any

import redis.asyncio as redis
from agents.extensions.memory import RedisSession

from .store import ConversationStore, GuardedSession

PREFIX = "chat"
# Delete or extend the lock only while it still holds our token, in one atomic step.
_DROP_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"


class _Session(GuardedSession, RedisSession):
    """The SDK's Redis session, failing as `StoreError` when Redis does."""


class RedisConversationStore(ConversationStore):
    def __init__(self, url: str, ttl_seconds: float):
        super().__init__(ttl_seconds)
        # Short timeouts: when Redis is down the user should hear so in seconds, not minutes.
        self.client = redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, decode_responses=True)
        self._ttl_ms = max(1, int(ttl_seconds * 1000))

    @staticmethod
    def _meta_key(conversation_id: str) -> str:
        return f"{PREFIX}:meta:{conversation_id}"

    @staticmethod
    def _lock_key(conversation_id: str) -> str:
        return f"{PREFIX}:turn:{conversation_id}"

    def _session(self, conversation_id: str) -> RedisSession:
        # RedisSession wants whole seconds; round up so items never expire before their metadata.
        return _Session(
            conversation_id, redis_client=self.client, key_prefix=f"{PREFIX}:session", ttl=math.ceil(self.ttl_seconds)
        )

    def _session_keys(self, conversation_id: str) -> tuple[str, ...]:
        session = f"{PREFIX}:session:{conversation_id}"
        return session, f"{session}:messages", f"{session}:counter"

    async def _load_meta(self, conversation_id: str):
        raw = await self.client.get(self._meta_key(conversation_id))
        if raw is None:
            return None
        meta = json.loads(raw)
        return meta.get("agent"), meta.get("state", {})

    async def _save_meta(self, conversation_id: str, agent: str | None, state: dict[str, Any]) -> None:
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._meta_key(conversation_id), json.dumps({"agent": agent, "state": state}), px=self._ttl_ms)
            # A chat read but not written still counts as active: keep its items as long as its metadata.
            for key in self._session_keys(conversation_id):
                pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    async def _expire(self, older_than: float) -> int:
        return 0  # Redis's own TTL removes idle conversations

    async def _take_lease(self, conversation_id: str, token: str) -> bool:
        lease_ms = int(self.lease_seconds * 1000)
        return bool(await self.client.set(self._lock_key(conversation_id), token, nx=True, px=lease_ms))

    async def _renew_lease(self, conversation_id: str, token: str) -> bool:
        lease_ms = int(self.lease_seconds * 1000)
        return bool(await self.client.eval(_RENEW_IF_OURS, 1, self._lock_key(conversation_id), token, lease_ms))

    async def _drop_lease(self, conversation_id: str, token: str) -> None:
        await self.client.eval(_DROP_IF_OURS, 1, self._lock_key(conversation_id), token)

    async def close(self) -> None:
        await self.client.aclose()
