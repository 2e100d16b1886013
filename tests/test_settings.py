"""Configuration is read in one place: agents_config/settings.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agents_config import Settings
from agents_config.settings import ConfigError

ROOT = Path(__file__).resolve().parent.parent
# Not the app: these set up an environment for it (tests, benchmarks, scripts, dev servers).
NOT_THE_APP = {"tests", "bench", "scripts", "devtools", "deploy", "node_modules", "data"}


def test_only_the_settings_module_reads_the_environment():
    readers = []
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in NOT_THE_APP or relative.parts[0].startswith("."):
            continue
        if relative == Path("agents_config/settings.py"):
            continue
        if re.search(r"\bos\.(environ|getenv)\b|\bgetenv\(", path.read_text(encoding="utf-8")):
            readers.append(str(relative))
    assert readers == [], "read settings through agents_config.Settings instead"


def test_where_app_py_listens_comes_from_the_settings():
    assert (Settings.from_env({}).server_name, Settings.from_env({}).server_port) == ("127.0.0.1", 7860)
    settings = Settings.from_env({"GRADIO_SERVER_NAME": " 0.0.0.0 ", "GRADIO_SERVER_PORT": "8080"})
    assert (settings.server_name, settings.server_port) == ("0.0.0.0", 8080)
    with pytest.raises(ConfigError, match="GRADIO_SERVER_PORT"):
        Settings.from_env({"GRADIO_SERVER_PORT": "http"})
