"""Redis backend: the SDK's RedisSession for model items, one JSON string per chat for the rest.

Every key of a conversation carries the same TTL, refreshed on each save, so Redis itself
expires idle chats: there is nothing to sweep and the store cannot grow without bound.

Turn leases name the process that holds them, and each process keeps a short-lived "alive" key
fresh while it runs. A lease whose process has no alive key left belongs to a dead replica (killed,
crashed, its machine gone): the next turn takes it over at once instead of waiting out the lease,
so a chat whose replica died mid-turn answers again within `ALIVE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets

import redis.asyncio as redis
from agents.extensions.memory import RedisSession

from .chat_state import ChatState
from .store import ConversationStore, GuardedSession, finish_pending

log = logging.getLogger(__name__)

PREFIX = "chat"
# A process's alive key lives this long and is refreshed every ALIVE_SECONDS / 4: a live process misses it
# only if its event loop stalls that long; a dead one frees its chats this long after it died.
ALIVE_SECONDS = 5.0
# Delete or extend the lock only while it still holds our token, in one atomic step.
_DROP_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_RENEW_IF_OURS = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
# Take over a lease still held by `ARGV[1]` whose process's alive key (KEYS[2]) is gone.
_TAKE_IF_HOLDER_DEAD = (
    "if redis.call('get', KEYS[1]) == ARGV[1] and redis.call('exists', KEYS[2]) == 0 then "
    "return redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) and 1 or 0 else return 0 end"
)


class _Session(GuardedSession, RedisSession):
    """The SDK's Redis session, failing as `StoreError` when Redis does."""


class RedisConversationStore(ConversationStore):
    def __init__(self, url: str, ttl_seconds: float):
        super().__init__(ttl_seconds)
        # Short timeouts: when Redis is down the user should hear so in seconds, not minutes.
        self.client = redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, decode_responses=True)
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._process = secrets.token_hex(8)  # this store's (this replica's) name in the leases it holds
        self._heartbeat: asyncio.Task | None = None

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
        try:
            meta = json.loads(raw)
        except ValueError:
            meta = None
        if not isinstance(meta, dict):  # a damaged row: the chat goes on with an empty state (ChatState.load)
            return None, ""
        agent = meta.get("agent")
        return agent if isinstance(agent, str) else None, meta.get("state", {})

    async def _save_meta(self, conversation_id: str, agent: str | None, state: ChatState) -> None:
        meta = f'{{"agent": {json.dumps(agent)}, "state": {state.model_dump_json()}}}'
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.set(self._meta_key(conversation_id), meta, px=self._ttl_ms)
            # A chat read but not written still counts as active: keep its items as long as its metadata.
            for key in self._session_keys(conversation_id):
                pipe.pexpire(key, self._ttl_ms)
            await pipe.execute()

    async def _expire(self, older_than: float) -> int:
        return 0  # Redis's own TTL removes idle conversations

    @staticmethod
    def _alive_key(process: str) -> str:
        return f"{PREFIX}:alive:{process}"

    def _holder(self, token: str) -> str:
        return f"{self._process}:{token}"

    async def _take_lease(self, conversation_id: str, token: str) -> bool:
        await self._keep_alive()
        lease_ms = int(self.lease_seconds * 1000)
        key, ours = self._lock_key(conversation_id), self._holder(token)
        if await self.client.set(key, ours, nx=True, px=lease_ms):
            return True
        holder = await self.client.get(key)
        if not holder or ":" not in holder:
            return False
        alive = self._alive_key(holder.split(":", 1)[0])
        if await self.client.eval(_TAKE_IF_HOLDER_DEAD, 2, key, alive, holder, ours, lease_ms):
            log.warning("took over a chat whose turn was left by a process that is gone")
            return True
        return False

    async def _renew_lease(self, conversation_id: str, token: str) -> bool:
        lease_ms = int(self.lease_seconds * 1000)
        return bool(await self.client.eval(_RENEW_IF_OURS, 1, self._lock_key(conversation_id), self._holder(token), lease_ms))

    async def _drop_lease(self, conversation_id: str, token: str) -> None:
        await self.client.eval(_DROP_IF_OURS, 1, self._lock_key(conversation_id), self._holder(token))

    async def _keep_alive(self) -> None:
        """Mark this process alive now, and keep it so from a task on the running loop."""
        loop = asyncio.get_running_loop()
        if self._heartbeat is None or self._heartbeat.done() or self._heartbeat.get_loop() is not loop:
            await self._beat()
            self._heartbeat = loop.create_task(self._beat_forever())

    async def _beat(self) -> None:
        await self.client.set(self._alive_key(self._process), "1", px=int(ALIVE_SECONDS * 1000))

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(ALIVE_SECONDS / 4)
            try:
                await self._beat()
            except Exception as exc:  # noqa: BLE001 - a Redis outage; turns report it themselves
                log.warning("could not refresh this process's alive key: %s", type(exc).__name__)

    async def close(self) -> None:
        await finish_pending()
        if self._heartbeat is not None and self._heartbeat.get_loop() is asyncio.get_running_loop():
            self._heartbeat.cancel()
            try:  # a clean shutdown frees whatever lease is left at once
                await self.client.delete(self._alive_key(self._process))
            except Exception:  # noqa: BLE001 - Redis gone: the key expires by itself
                pass
        await self.client.aclose()
