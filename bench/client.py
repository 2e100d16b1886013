"""Raw latency probes: a Gradio queue-protocol client and an SSE client, timestamped per line.

gradio_client polls every 50 ms, so it cannot measure latency; these read the SSE stream directly.
Both count the response body bytes and the events, and note when the first and the last delta's
word (see bench/upstream.py) first appears on the wire.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import httpx

from bench.upstream import word


@dataclass
class Chat:
    sent: float = 0.0
    first_text: float | None = None
    final: float | None = None
    bytes: int = 0
    events: int = 0  # Gradio: process_generating/completed messages; SSE: data events


def _watch(chat: Chat, line: bytes, first: bytes, last: bytes) -> None:
    if chat.first_text is None and first in line:
        chat.first_text = time.monotonic()
    if chat.final is None and last in line:
        chat.final = time.monotonic()


def gradio_endpoint(client: httpx.Client, base: str) -> tuple[int, int]:
    """(fn_index, number of inputs) of the `/chat` API, from the app's config."""
    config = client.get(base + "config").json()
    for dependency in config["dependencies"]:
        if dependency.get("api_name") == "chat":
            return dependency["id"], len(dependency["inputs"])
    raise LookupError("no /chat endpoint")


async def gradio_chat(client: httpx.AsyncClient, base: str, endpoint: tuple[int, int], deltas: int) -> Chat:
    """One chat through Gradio's queue: POST queue/join, then read GET queue/data's SSE."""
    fn_index, inputs = endpoint
    first, last = word(0).encode(), word(deltas - 1).encode()
    session = secrets.token_hex(8)
    chat = Chat(sent=time.monotonic())
    join = await client.post(
        base + "gradio_api/queue/join",
        json={"data": ["bench", [], None][:inputs], "fn_index": fn_index, "session_hash": session},
    )
    join.raise_for_status()
    chat.bytes += len(join.content)
    async with client.stream("GET", base + "gradio_api/queue/data", params={"session_hash": session}) as response:
        async for line in response.aiter_lines():
            raw = line.encode()
            chat.bytes += len(raw) + 1
            if b'"process_generating"' in raw or b'"process_completed"' in raw:
                chat.events += 1
                _watch(chat, raw, first, last)
            if b'"process_completed"' in raw or b'"close_stream"' in raw:
                break
    return chat


async def sse_chat(client: httpx.AsyncClient, url: str, deltas: int) -> Chat:
    """One chat through an SSE endpoint (`/chat/stream` or the naive one)."""
    first, last = word(0).encode(), word(deltas - 1).encode()
    chat = Chat(sent=time.monotonic())
    async with client.stream("POST", url, json={"message": "bench"}) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            raw = line.encode()
            chat.bytes += len(raw) + 1
            if raw.startswith(b"data:"):
                chat.events += 1
                _watch(chat, raw, first, last)
    return chat
