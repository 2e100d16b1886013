"""The HTTP API honours AGENT_CONCURRENCY: N turns run, 4N wait, the next request gets 503 + Retry-After."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest

from tests.counting_server import Server, counting_server
from tests.test_http_api import BILLING, assert_detail

TIMEOUT = httpx.Timeout(30.0)


@pytest.fixture
def held(tmp_path) -> Iterator[Server]:
    # One turn at a time, and each turn holds its place for a 30 s tool call.
    yield from counting_server(str(tmp_path / "chats.sqlite3"), demo_tool_latency=30, concurrency_limit=1)


KEEP: list = []  # the line readers of open streams: a collected reader would close its connection


async def _open_stream(client: httpx.AsyncClient, stack) -> dict:
    response = await stack.enter_async_context(client.stream("POST", "chat/stream", json={"message": BILLING}))
    assert response.status_code == 200
    lines = response.aiter_lines()
    KEEP.append(lines)
    async for line in lines:
        if line.startswith("data: "):
            return json.loads(line[6:])  # the session event: admitted
    raise AssertionError("the stream ended before its first event")


async def test_requests_beyond_running_and_waiting_get_503_with_retry_after(held):
    from contextlib import AsyncExitStack

    async with httpx.AsyncClient(base_url=held.url, timeout=TIMEOUT) as client:
        async with AsyncExitStack() as streams:
            first = await _open_stream(client, streams)  # runs
            assert first["type"] == "session"
            for _ in range(4):  # wait behind it
                assert (await _open_stream(client, streams))["type"] == "session"
            for path in ("chat/stream", "chat"):
                refused = await client.post(path, json={"message": BILLING})
                assert "busy" in assert_detail(refused, 503)
                assert int(refused.headers["retry-after"]) > 0
            assert held.model.calls <= 3  # only the first turn reached the model (triage, billing)
        KEEP.clear()
        # The streams are closed (clients gone): their places are given back.
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            async with client.stream("POST", "chat/stream", json={"message": "Hi"}) as response:
                if response.status_code == 200:
                    break
            assert asyncio.get_running_loop().time() < deadline, "places were not given back"
            await asyncio.sleep(0.1)  # polling with a deadline


@pytest.fixture
def single() -> Iterator[Server]:
    yield from counting_server(demo_tokens_per_second=0, concurrency_limit=1)


async def test_waiting_requests_all_finish_one_after_another(single):
    async with httpx.AsyncClient(base_url=single.url, timeout=TIMEOUT) as client:
        answers = await asyncio.gather(*(client.post("chat", json={"message": BILLING}) for _ in range(4)))
    assert [a.status_code for a in answers] == [200] * 4
    assert all(a.json()["final"] for a in answers)
