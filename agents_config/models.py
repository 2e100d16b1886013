"""Model and provider selection, in one place: the offline demo model or an OpenAI-style API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from agents import ModelProvider, ModelSettings, OpenAIProvider, RunConfig, set_tracing_disabled
from openai import AsyncOpenAI

from .demo_model import DemoModelProvider
from .settings import Settings


@dataclass
class Backend:
    """Where the model calls of a run go, and how the UI names it (never with the key)."""

    label: str
    provider: ModelProvider
    model_settings: ModelSettings = field(default_factory=ModelSettings)
    offline: bool = False

    @asynccontextmanager
    async def run_config(self, **overrides) -> AsyncIterator[RunConfig]:
        """The RunConfig for one turn; a context so a transport can hold a connection for it."""
        yield RunConfig(model_provider=self.provider, **overrides)

    async def aclose(self) -> None:
        closer = getattr(self.provider, "aclose", None)
        if closer is not None:
            await closer()


def _describe(settings: Settings) -> str:
    api = "Chat Completions" if settings.api == "chat_completions" else "Responses API"
    where = "OpenAI" if not settings.openai_base_url else "OpenAI-compatible server"
    transport = " over WebSocket" if settings.transport == "websocket" else ""
    return f"{where} · {api}{transport} · model `{settings.model}`"


def build_backend(settings: Settings) -> Backend:
    if settings.offline:
        # Tracing would try to upload spans to OpenAI with no key: keep the offline demo quiet.
        set_tracing_disabled(True)
        return Backend(
            label="Offline demo model (no key, no network)",
            provider=DemoModelProvider(settings.demo_tokens_per_second),
            model_settings=ModelSettings(include_usage=True),
            offline=True,
        )
    if settings.openai_base_url:
        # Traces of runs against another server would be uploaded to OpenAI with that server's key.
        set_tracing_disabled(True)
    # The openai client's defaults (600 s timeout, 2 retries) can leave a turn hanging for half an hour.
    client = AsyncOpenAI(
        api_key=settings.openai_api_key or "unused",
        base_url=settings.openai_base_url,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
    )
    provider = OpenAIProvider(
        openai_client=client,
        use_responses=settings.api == "responses",
        use_responses_websocket=settings.transport == "websocket",
    )
    return Backend(
        label=_describe(settings),
        provider=provider,
        # Chat Completions only reports token usage when asked to.
        model_settings=ModelSettings(include_usage=True),
    )
