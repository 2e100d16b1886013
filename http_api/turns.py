"""What every streaming route needs around a turn: a capped JSON body, the turn lock, and a stream
that a dropped client cancels cleanly. Shared by /chat/stream (routes.py) and /agui (agui.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
from fastapi import HTTPException, Request
from starlette.requests import ClientDisconnect

from conversations import ConversationBusy, StoreError
from runtime import Runtime
from streaming.events import ViewEvent

MAX_BODY_BYTES = 64 * 1024
BODY_SECONDS = 15  # to receive a whole (small) body
CLEANUP_SECONDS = 10  # bound on cancelling a run and releasing its chat after a disconnect
BUSY = "This conversation is still answering the previous message; wait for its done event."


async def read_json(request: Request) -> Any:
    """The request's JSON body; 413 past the cap (a huge body is never read whole), 400 when not JSON."""
    too_big = HTTPException(413, f"The request body is over {MAX_BODY_BYTES // 1024} KiB.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_big
    body = bytearray()
    try:
        # A body shorter than its Content-Length would hold the connection forever: give it a deadline.
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise too_big
    except TimeoutError:
        raise HTTPException(408, f"The request body did not arrive within {BODY_SECONDS} s.") from None
    except ClientDisconnect:  # the client left half-way: nothing to answer, nothing to log
        raise HTTPException(400, "The request body ended early.") from None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deeply nested arrays
        raise HTTPException(400, "The body is not valid JSON.") from None


async def claim_turn(runtime: Runtime, conversation_id: str, busy: str = BUSY) -> AsyncExitStack:
    """Hold the conversation's turn lock until the returned stack is closed; 409 when it is taken.

    Taken before the response starts, so a busy conversation gets a plain 409 JSON answer, never a stream.
    """
    claim = AsyncExitStack()
    try:
        await claim.enter_async_context(runtime.store.turn(conversation_id))
    except ConversationBusy:
        raise HTTPException(409, busy) from None
    except StoreError as exc:  # the store went away between finding the chat and claiming it
        raise HTTPException(503, str(exc)) from None
    return claim


class TurnStream:
    """A turn's batches for a streaming response, owning the turn and its claim until `aclose()`.

    A disconnect cancels the response's generator inside an anyio scope that re-cancels every await
    until it exits. Awaiting the turn directly would pass each of those cancellations on to the run's
    own clean-up (saving the chat, a DB write) and cut it short; so each step runs in its own task
    behind a shield, and is cancelled once, in `aclose()`.
    """

    def __init__(self, batches: AsyncIterator[list[ViewEvent]], claim: AsyncExitStack):
        self._batches = batches
        self._claim = claim
        self._step: asyncio.Future[list[ViewEvent]] | None = None

    def __aiter__(self) -> TurnStream:
        return self

    async def __anext__(self) -> list[ViewEvent]:
        self._step = asyncio.ensure_future(anext(self._batches))
        batch = await asyncio.shield(self._step)  # StopAsyncIteration ends the iteration
        self._step = None
        return batch

    async def aclose(self) -> None:
        """Cancel the run now (not when the generator is collected) and really release the turn lock
        and store lease: shielded, because a half-done lease release would block the chat for the
        lease's lifetime."""
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            step, self._step = self._step, None
            if step is not None and not step.done():
                step.cancel()
                await asyncio.wait({step})
            await self._batches.aclose()  # type: ignore[attr-defined]
            await self._claim.aclose()
