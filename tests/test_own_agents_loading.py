"""Your own agents: loading a TARGET, and every way it can fail (exit status 2, one line, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from agents import Agent

from agents_config import AgentsLoadError, ConfigError, build_team, load_agents
from agents_config.loading import start_agent
from devtools.server import offline_settings

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
from agents import Agent, function_tool

TITLE = "Weather desk"
EXAMPLES = ["Weather in Paris?"]

@function_tool
def weather(city: str) -> str:
    \"\"\"The weather.

    Args:
        city: A city.
    \"\"\"
    return "sunny"

helper = Agent(name="Helper", instructions="Help.")
agent = Agent(name="Desk", instructions="Answer.", tools=[weather, helper.as_tool("ask_helper", "Ask the helper.")],
              handoffs=[Agent(name="Closer", instructions="Close.")])

async def make():
    return Agent(name="Made", instructions="Made by a factory.")
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def _env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AGENT_OFFLINE", "AGENTS", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env["PYTHONPATH"] = str(ROOT)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run_app(*args: str, cwd: Path, **env: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], cwd=cwd, env=_env(**env),
                          capture_output=True, text=True, timeout=120)


# --- loading, in process -------------------------------------------------------------------------------


def test_a_file_target_gives_its_agent_page_text_and_reachable_agents(tmp_path):
    module = load_agents(str(_write(tmp_path, "desk.py", GOOD)))
    assert module.title == "Weather desk" and module.labelled_examples() == {"Weather in Paris?": "Weather in Paris?"}
    team = build_team(offline_settings(force_offline=False, openai_base_url="http://127.0.0.1:9/v1"), agents=module)
    assert team.start.name == "Desk"
    # Handoffs and agents used as tools are part of the team: a chat can continue with any of them.
    assert list(team.by_name) == ["Desk", "Closer", "Helper"]
    assert team.page.title == "Weather desk" and team.hooks is None


def test_an_async_factory_is_awaited(tmp_path):
    path = _write(tmp_path, "desk.py", GOOD)
    assert start_agent(load_agents(f"{path}:make")).name == "Made"


async def test_an_async_factory_is_awaited_inside_a_running_loop(tmp_path):
    path = _write(tmp_path, "desk.py", GOOD)
    assert start_agent(load_agents(f"{path}:make")).name == "Made"


def test_a_module_target(tmp_path, monkeypatch):
    _write(tmp_path, "desk_module.py", GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert isinstance(load_agents("desk_module:helper").agent, Agent)


def test_your_agents_need_a_model():
    with pytest.raises(ConfigError, match="need a model"):
        build_team(offline_settings(force_offline=False), agents=_agents_module())
    with pytest.raises(ConfigError, match="AGENT_OFFLINE=1"):
        build_team(offline_settings(force_offline=True, openai_api_key="sk-test"), agents=_agents_module())


def _agents_module():
    from agents_config import AgentsModule

    return AgentsModule(agent=Agent(name="Mine", instructions="x"))


@pytest.mark.parametrize("target, problem", [
    ("", "AGENTS is empty"),
    ("no_such_module_here", "no such module or file"),
    ("agents_config.demo:nothing", "has no attribute 'nothing'"),
    ("agents_config.demo:TITLE", "not an agents.Agent"),
])
def test_bad_targets_are_one_clear_error(target, problem):
    with pytest.raises(AgentsLoadError, match=problem):
        load_agents(target)


# --- the command line: exit status 2 and one line ------------------------------------------------------


BAD_TARGETS = {
    "missing file": ("nowhere/agents.py", None, "no such file"),
    "syntax error": ("broken.py", "agent = Agent(name='x'\n", "syntax error on line 1"),
    "missing attribute": ("noagent.py", "from agents import Agent\nteam = Agent(name='x')\n", "no attribute 'agent'"),
    "not an agent": ("notagent.py", "agent = 42\n", "not an agents.Agent"),
    "factory raises": ("factory.py", "def agent():\n    raise RuntimeError('no database here')\n", "raised RuntimeError: no database here"),
    "import fails": ("importfails.py", "import not_a_real_package_xyz\n", "No module named 'not_a_real_package_xyz'"),
}


@pytest.mark.parametrize("case", list(BAD_TARGETS))
def test_a_bad_target_exits_2_with_one_line(tmp_path, case):
    name, text, problem = BAD_TARGETS[case]
    if text is not None:
        _write(tmp_path, name, text)
    result = _run_app("--agents", name, cwd=tmp_path, OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_API_KEY="x")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_agents_variable_works_like_the_flag(tmp_path):
    result = _run_app(cwd=tmp_path, AGENTS="nowhere.py", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    assert result.returncode == 2 and "nowhere.py: no such file" in result.stderr


def test_own_agents_without_a_model_exit_2(tmp_path):
    _write(tmp_path, "desk.py", GOOD)
    result = _run_app("--agents", "desk.py", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "need a model" in lines[0] and "OPENAI_API_KEY" in lines[0]
    assert "Traceback" not in result.stderr


def test_importing_the_app_starts_nothing_and_touches_no_disk(tmp_path):
    """`import app` (and its entry point) builds nothing; even `app.demo` opens no store until first used."""
    db = tmp_path / "data" / "chats.sqlite3"
    code = ("import app, os, sys; from app import serve; "
            "assert 'demo' not in vars(app); "
            "d = app.demo; "
            "print(type(d).__name__, os.path.exists(sys.argv[1]))")
    result = subprocess.run([sys.executable, "-c", code, str(db.parent)], cwd=tmp_path, capture_output=True, text=True,
                            env=_env(SESSION_DB_URL=str(db), AGENT_OFFLINE="1"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Blocks", "False"]
    assert not any(tmp_path.iterdir())


def test_a_three_line_space_app_with_serve(tmp_path):
    """`serve(agent)` is the entry point a Space's app.py can be; its mistakes exit 2 like the flag's."""
    _write(tmp_path, "space_app.py", """
        from app import serve
        from agents import Agent
        serve(Agent(name="Mine", instructions="x"), title="Mine", examples=["hi"])
    """)
    result = subprocess.run([sys.executable, "space_app.py"], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "Cannot start: Your agents need a model: set OPENAI_API_KEY, or OPENAI_BASE_URL for a local server "
        "(the offline demo model drives only the demo team)."]
    _write(tmp_path, "space_app.py", "from app import serve\nserve(42)\n")
    result = subprocess.run([sys.executable, "space_app.py"], cwd=tmp_path, env=_env(OPENAI_API_KEY="sk-x"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "serve(agent) is of type int, not an agents.Agent" in result.stderr
    assert "Traceback" not in result.stderr
