"""Model and provider selection, in one place: the offline demo model or an OpenAI-style API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from agents import Model, ModelProvider, ModelSettings, OpenAIProvider, RunConfig

from .demo_model import DemoModelProvider
from .openai_client import ProviderClient
from .settings import Settings

# The provider of the turn running in this task, so a nested run of the same turn (the input
# guardrail's check) reuses it, and with it the turn's WebSocket connection.
_turn_provider: ContextVar[tuple[Backend, ModelProvider] | None] = ContextVar("turn_provider", default=None)


@dataclass
class Backend:
    """Where the model calls of a run go, and how the UI names it (never with the key).

    `provider_per_turn`, when set, makes a fresh provider for every turn and closes it after: the
    WebSocket transport keeps one connection per provider and model, and a connection must not be
    shared by the concurrent turns of different users (the SDK serialises requests on it, and a
    Stop in one turn would drop it under the other).
    """

    label: str
    provider: ModelProvider
    model_settings: ModelSettings = field(default_factory=ModelSettings)
    offline: bool = False
    provider_per_turn: Callable[[], ModelProvider] | None = None
    default_model: str | None = None  # what an agent without a model of its own calls
    # The RunConfig of the shared provider, made once: RunConfig's __post_init__ evaluates its own type hints
    # (about 0.5 ms, twice a turn with the guardrail's check). The SDK never mutates it (it copies with replace).
    _shared_config: RunConfig | None = field(default=None, init=False, repr=False, compare=False)

    @asynccontextmanager
    async def run_config(self, **overrides) -> AsyncIterator[RunConfig]:
        """The RunConfig for one turn; a context so a transport can hold a connection for it.

        Nested inside another `run_config` of the same backend in the same task (the guardrail check
        runs inside the turn's run), it reuses the outer turn's provider instead of opening a new one.
        """
        outer = _turn_provider.get()
        if outer is not None and outer[0] is self:
            yield self._config(outer[1], overrides)
            return
        provider = self.provider_per_turn() if self.provider_per_turn else self.provider
        token = _turn_provider.set((self, provider))
        try:
            yield self._config(provider, overrides)
        finally:
            try:
                _turn_provider.reset(token)
            except ValueError:  # the turn was closed from another task; its context dies with it
                _turn_provider.set(None)
            if provider is not self.provider:
                await _close_quietly(provider)

    def _config(self, provider: ModelProvider, overrides: dict) -> RunConfig:
        if provider is not self.provider or overrides:
            return RunConfig(model_provider=provider, **self._settings(overrides))
        if self._shared_config is None:
            self._shared_config = RunConfig(model_provider=provider, **self._settings({}))
        return self._shared_config

    def _settings(self, overrides: dict) -> dict:
        # The backend's settings (Chat Completions reports usage only when asked) apply on top of each
        # agent's own, for agents this app did not build too.
        return {"model_settings": self.model_settings, **overrides}

    async def aclose(self) -> None:
        await _close_quietly(self.provider)


class DefaultModelProvider(ModelProvider):
    """A provider whose agents without a model of their own call the configured one (OPENAI_DEFAULT_MODEL).

    The SDK's own fallback when the variable is unset is its own choice of model; this keeps the app's.
    """

    def __init__(self, inner: ModelProvider, default_model: str):
        self.inner, self.default_model = inner, default_model

    def get_model(self, model_name: str | None) -> Model:
        return self.inner.get_model(model_name or self.default_model)

    async def aclose(self) -> None:
        await _close_quietly(self.inner)


async def _close_quietly(provider: ModelProvider) -> None:
    """Release a provider's connections; a failure to close must not replace the turn's own outcome."""
    closer = getattr(provider, "aclose", None)
    if closer is None:
        return
    try:
        await closer()
    except Exception:  # noqa: BLE001 - the connection is being discarded either way
        pass


def _describe(settings: Settings) -> str:
    api = "Chat Completions" if settings.api == "chat_completions" else "Responses API"
    where = "OpenAI" if not settings.openai_base_url else "OpenAI-compatible server"
    transport = " over WebSocket" if settings.transport == "websocket" else ""
    return f"{where} · {api}{transport} · model `{settings.model}`"


def build_backend(settings: Settings) -> Backend:
    # Where traces go (local only, or also the OpenAI dashboard) is decided in one place:
    # Runtime.uploads_traces / streaming.tracing.install_collector.
    if settings.offline:
        return Backend(
            label="Offline demo model (no key, no network)",
            provider=DemoModelProvider(settings.demo_tokens_per_second),
            model_settings=ModelSettings(include_usage=True),
            offline=True,
        )
    # The openai client's defaults (600 s timeout, 2 retries) can leave a turn hanging for half an hour.
    client = ProviderClient(
        api_key=settings.openai_api_key or "unused",
        base_url=settings.openai_base_url,
        timeout=settings.request_timeout,
        max_retries=settings.max_retries,
    )
    use_websocket = settings.api == "responses" and settings.transport == "websocket"

    def make_provider() -> ModelProvider:
        # All providers share one client (its HTTP pool); a WebSocket provider holds its own connection.
        return DefaultModelProvider(
            OpenAIProvider(
                openai_client=client,
                use_responses=settings.api == "responses",
                use_responses_websocket=use_websocket,
            ),
            settings.model,
        )

    return Backend(
        label=_describe(settings),
        provider=make_provider(),
        # Chat Completions only reports token usage when asked to.
        model_settings=ModelSettings(include_usage=True),
        # One WebSocket per turn: every model call of the turn (guardrail, tool round-trips, handoffs)
        # shares it, no two users ever share one, and it is closed when the turn ends.
        provider_per_turn=make_provider if use_websocket else None,
        default_model=settings.model,
    )
