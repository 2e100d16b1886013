"""The whole app on 127.0.0.1 with a demo model that counts what it is asked and what it streams.

Shared by the HTTP API, AG-UI and admission tests (their `fast`, `slow`, `stalling` and `locked`
servers are in conftest.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

from openai.types.responses import ResponseFunctionCallArgumentsDoneEvent, ResponseTextDeltaEvent

from agents_config import Backend, build_team
from agents_config.demo_model import DemoModel, DemoModelProvider
from conversations import open_store
from devtools.server import offline_settings, serve
from runtime import Runtime


class CountingModel(DemoModel):
    """The demo model, counting its calls, the tool calls it makes and the text deltas it streams."""

    def __init__(self, tokens_per_second: float):
        super().__init__(tokens_per_second)
        self.calls = 0
        self.tool_calls = 0
        self.text_deltas = 0
        self.text = ""
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, to inspect its tasks

    async def get_response(self, *args, **kwargs):
        self.calls += 1
        return await super().get_response(*args, **kwargs)

    async def stream_response(self, *args, **kwargs):
        self.calls += 1
        self.loop = asyncio.get_running_loop()
        async for event in super().stream_response(*args, **kwargs):
            if isinstance(event, ResponseTextDeltaEvent):
                self.text_deltas += 1
                self.text += event.delta
            elif isinstance(event, ResponseFunctionCallArgumentsDoneEvent) and not event.name.startswith("transfer_to"):
                self.tool_calls += 1
            yield event


class CountingProvider(DemoModelProvider):
    def __init__(self, tokens_per_second: float):
        self.model = CountingModel(tokens_per_second)


@dataclass
class Server:
    url: str
    runtime: Runtime
    model: CountingModel


def counting_server(store_url: str = ":memory:", **overrides) -> Iterator[Server]:
    settings = offline_settings(session_db_url=store_url, **overrides)
    provider = CountingProvider(settings.demo_tokens_per_second)
    backend = Backend(label="counting offline model", provider=provider, offline=True)
    runtime = Runtime(settings, team=build_team(settings, backend=backend), store=open_store(store_url, 3600))
    with serve(runtime) as url:
        yield Server(url, runtime, provider.model)
