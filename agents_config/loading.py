"""Your own agents: an "agents module" names the agent that answers first and how the page looks.

`TARGET` (from `python app.py --agents TARGET` or `AGENTS`) is a Python file or an importable module,
optionally followed by `:NAME` (default `agent`). `NAME` is an `agents.Agent` or a function without
arguments, plain or async, that returns one. The module may set `TITLE`, `DESCRIPTION` (Markdown) and
`EXAMPLES` (a list of messages, or a dict of label -> message).

Every way this can go wrong is an `AgentsLoadError` whose message is one line naming the problem: the
command line prints it and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from agents import Agent

from .settings import ConfigError

DEFAULT_NAME = "agent"

AgentFactory = Callable[[], "Agent | Awaitable[Agent]"]


class AgentsLoadError(ConfigError):
    """The agents to serve cannot be loaded; the message is one line that says why."""


@dataclass(frozen=True)
class AgentsModule:
    """What the app needs from an agents module: the first agent (or how to make it) and the page text."""

    agent: Agent | AgentFactory
    title: str | None = None
    description: str | None = None
    examples: list[str] | Mapping[str, str] | None = None
    source: str = "your agents"  # how messages name it, e.g. "my_agents.py:agent"

    def labelled_examples(self) -> dict[str, str]:
        """Examples as label -> message (a plain list is labelled by the messages themselves)."""
        if not self.examples:
            return {}
        if isinstance(self.examples, Mapping):
            return dict(self.examples)
        return {text: text for text in self.examples}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


def _split(target: str) -> tuple[str, str]:
    """'path/to/x.py:team' -> ('path/to/x.py', 'team'); a drive letter's colon is not a name separator."""
    where, sep, name = target.rpartition(":")
    if sep and name.isidentifier() and where and not (len(where) == 1 and where.isalpha()):
        return where, name
    return target, DEFAULT_NAME


def _looks_like_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def _import_file(where: str) -> ModuleType:
    path = Path(where).expanduser()
    if not path.is_file():
        raise AgentsLoadError(f"Cannot load agents from {where}: no such file.")
    path = path.resolve()
    # A unique module name per file, so two files called agents.py do not replace each other.
    name = f"agents_module_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AgentsLoadError(f"Cannot load agents from {where}: not a Python file.")
    module = importlib.util.module_from_spec(spec)
    # The file's folder comes first on the path, so it can import its neighbours as scripts do.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        raise AgentsLoadError(f"Cannot load agents from {where}: syntax error on line {exc.lineno}: {exc.msg}.") from None
    except Exception as exc:  # noqa: BLE001 - whatever the file raises while importing, say so in one line
        sys.modules.pop(name, None)
        raise AgentsLoadError(f"Cannot load agents from {where}: importing it raised {_first_line(exc)}") from None
    return module


def _import_module(where: str) -> ModuleType:
    try:
        return importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name and (where == exc.name or where.startswith(exc.name + ".")):
            raise AgentsLoadError(f"Cannot load agents from {where}: no such module or file.") from None
        raise AgentsLoadError(f"Cannot load agents from {where}: importing it raised {_first_line(exc)}") from None
    except SyntaxError as exc:
        raise AgentsLoadError(
            f"Cannot load agents from {where}: syntax error in {Path(exc.filename or '?').name} line {exc.lineno}: {exc.msg}."
        ) from None
    except Exception as exc:  # noqa: BLE001
        raise AgentsLoadError(f"Cannot load agents from {where}: importing it raised {_first_line(exc)}") from None


def _optional(module: ModuleType, source: str, name: str, check: Callable[[Any], bool], wanted: str) -> Any:
    value = getattr(module, name, None)
    if value is not None and not check(value):
        raise AgentsLoadError(f"{source}: {name} must be {wanted}, not {type(value).__name__}.")
    return value


def _is_examples(value: Any) -> bool:
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


def load_agents(target: str) -> AgentsModule:
    """Import `TARGET` and take its agent (or factory) and page text; nothing is called yet."""
    target = target.strip()
    if not target:
        raise AgentsLoadError("AGENTS is empty: name a Python file or module, e.g. my_agents.py or my_agents.py:agent.")
    where, name = _split(target)
    module = _import_file(where) if _looks_like_file(where) else _import_module(where)
    source = f"{where}:{name}"
    if not hasattr(module, name):
        hint = "" if name != DEFAULT_NAME else f" (name another attribute with {where}:NAME)"
        raise AgentsLoadError(f"Cannot load agents from {where}: it has no attribute {name!r}{hint}.")
    value = getattr(module, name)
    if not isinstance(value, Agent) and not (callable(value) and not isinstance(value, type)):
        raise AgentsLoadError(
            f"{source} is of type {type(value).__name__}, not an agents.Agent or a function that returns one."
        )
    return AgentsModule(
        agent=value,
        title=_optional(module, source, "TITLE", lambda v: isinstance(v, str), "a str"),
        description=_optional(module, source, "DESCRIPTION", lambda v: isinstance(v, str), "a Markdown str"),
        examples=_optional(module, source, "EXAMPLES", _is_examples, "a list of str or a dict of label -> str"),
        source=source,
    )


def _run_coroutine(awaitable: Awaitable[Any]) -> Any:
    """Await a factory's result from sync code, also when called inside a running event loop."""
    async def wait() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(wait())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a loop is running here: use another thread's
        return pool.submit(asyncio.run, wait()).result()


def _required_parameters(function: Callable[..., Any]) -> list[str]:
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): just call it
        return []
    return [p.name for p in parameters if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def start_agent(module: AgentsModule) -> Agent:
    """The agent that answers first: the module's Agent, or what its factory returns."""
    value = module.agent
    if isinstance(value, Agent):
        return value
    if not callable(value) or isinstance(value, type):
        raise AgentsLoadError(f"{module.source} is of type {type(value).__name__}, not an agents.Agent or a function that returns one.")
    required = _required_parameters(value)
    if required:
        raise AgentsLoadError(f"{module.source} must take no arguments, but it needs {', '.join(required)}.")
    try:
        result = value()
        if inspect.isawaitable(result):
            result = _run_coroutine(result)
    except AgentsLoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - the factory's failure, in one line
        raise AgentsLoadError(f"{module.source}() raised {_first_line(exc)}") from None
    if not isinstance(result, Agent):
        raise AgentsLoadError(f"{module.source}() returned a value of type {type(result).__name__}, not an agents.Agent.")
    return result
