"""All configuration, read once from the environment (and `.env`) into one frozen object.

Nothing else in the app reads `os.environ` (tests/test_settings.py checks); everything receives a `Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

DEFAULT_OPENAI_MODEL = "gpt-4.1-mini"
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class ConfigError(ValueError):
    """A setting has a value the app cannot start with; the message says which and why."""


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}, got {raw!r}.")
    return value


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or allowed[0]
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}.")
    return value


@dataclass(frozen=True)
class Settings:
    # `repr=False` on secrets so that printing or logging a Settings never shows them.
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str | None = None
    model: str = DEFAULT_OPENAI_MODEL
    api: Literal["responses", "chat_completions"] = "responses"
    transport: Literal["http", "websocket"] = "http"
    force_offline: bool = False
    stall_timeout: float = 60.0
    session_db_url: str = str(DEFAULT_DATA_DIR / "conversations.sqlite3")
    app_password: str | None = field(default=None, repr=False)
    demo_tokens_per_second: float = 40.0
    demo_tool_latency: float = 0.4
    max_message_chars: int = 8000
    conversation_ttl: float = 7 * 24 * 3600.0
    max_turns: int = 12
    concurrency_limit: int = 64
    request_timeout: float = 60.0
    max_retries: int = 2
    # Turn recordings (fileformats.recording). Off unless asked for when built directly (tests);
    # `from_env` turns them on for local use and off on public Hugging Face Spaces.
    record_runs: bool = False
    recordings_dir: str = str(DEFAULT_DATA_DIR / "recordings")
    recordings_max_files: int = 200
    recordings_max_mb: float = 50.0
    # Your own agents (agents_config/loading.py) instead of the demo team, and MCP servers for them.
    agents: str | None = None
    mcp_config: str | None = None
    guardrail: bool = True  # the demo team's model-based input guardrail
    # Where `python app.py` listens (Gradio's own variable names, so a Space's settings apply).
    server_name: str = "127.0.0.1"
    server_port: int = 7860

    @property
    def offline(self) -> bool:
        """The built-in demo model runs when nothing real is configured, or when forced."""
        return self.force_offline or not (self.openai_api_key or self.openai_base_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        api = _choice(env, "AGENT_API", ("responses", "chat_completions"))
        transport = _choice(env, "AGENT_TRANSPORT", ("http", "websocket"))
        if api == "chat_completions" and transport == "websocket":
            raise ConfigError(
                "AGENT_TRANSPORT=websocket needs AGENT_API=responses: the WebSocket transport exists "
                "only for the Responses API. Unset AGENT_TRANSPORT to use Chat Completions over HTTP."
            )
        return cls(
            openai_api_key=env.get("OPENAI_API_KEY", "").strip() or None,
            openai_base_url=env.get("OPENAI_BASE_URL", "").strip() or None,
            model=env.get("OPENAI_DEFAULT_MODEL", "").strip() or DEFAULT_OPENAI_MODEL,
            api=api,  # type: ignore[arg-type]
            transport=transport,  # type: ignore[arg-type]
            force_offline=_flag(env.get("AGENT_OFFLINE")),
            stall_timeout=_number(env, "AGENT_STALL_TIMEOUT", 60.0, minimum=0.1),
            session_db_url=env.get("SESSION_DB_URL", "").strip() or cls.session_db_url,
            app_password=env.get("APP_PASSWORD") or None,
            demo_tokens_per_second=_number(env, "DEMO_TOKENS_PER_SECOND", 40.0),
            demo_tool_latency=_number(env, "DEMO_TOOL_LATENCY", 0.4),
            conversation_ttl=_number(env, "CONVERSATION_TTL_SECONDS", cls.conversation_ttl, minimum=1),
            concurrency_limit=int(_number(env, "AGENT_CONCURRENCY", 64, minimum=1)),
            # A Space (SPACE_ID is set there) is public: its visitors' runs are not kept unless asked.
            record_runs=_flag(env["RECORD_RUNS"]) if env.get("RECORD_RUNS", "").strip() else not env.get("SPACE_ID"),
            recordings_dir=env.get("RECORDINGS_DIR", "").strip() or cls.recordings_dir,
            recordings_max_files=int(_number(env, "RECORDINGS_MAX_FILES", 200, minimum=1)),
            recordings_max_mb=_number(env, "RECORDINGS_MAX_MB", 50.0, minimum=0.1),
            agents=env.get("AGENTS", "").strip() or None,
            mcp_config=env.get("MCP_CONFIG", "").strip() or None,
            guardrail=_choice(env, "AGENT_GUARDRAIL", ("on", "off")) == "on",
            server_name=env.get("GRADIO_SERVER_NAME", "").strip() or cls.server_name,
            server_port=int(_number(env, "GRADIO_SERVER_PORT", cls.server_port)),  # 0: any free port
        )
