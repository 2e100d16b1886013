"""Recording a turn's stream as JSON Lines, and reading such a file back safely.

A recording is what a person saw of a run, with its timing, plus what the SDK would need to go on:

    {"kind": "header", "version": 1, "message": ..., "agent": ..., "backend": ..., "started_at": iso}
    {"kind": "event", "t": <seconds since start>, "event": <streaming.events.to_json(event)>}   (one per event)
    {"kind": "final", "agent": ..., "input_list": [...conversation.session.get_items()...]}

Events are recorded as the turn produces them (before `batching.batches` merges text), so a replay
can reproduce the original pacing. Files may come from anyone (uploads, examples), so the reader
validates every line and turns every problem into one `RecordingError` with a readable message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
import secrets
import time
import typing
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError

from conversations.history import check_history
from streaming.events import ViewEvent, to_json

log = logging.getLogger(__name__)

VERSION = 1
MAX_RECORDING_BYTES = 5 * 1024 * 1024  # larger files are refused before they are parsed
MAX_RECORDING_EVENTS = 20_000  # a long real turn has a few thousand; more only makes a replay hog the server
MAX_EVENT_TIME = 24 * 3600.0  # a longer offset is a broken (or hostile) file, not a slow run
REDACTED = "[redacted]"
# Anything that looks like an API key is scrubbed, whatever the provider (sk-..., sk-proj-..., etc.).
_KEY_LIKE = re.compile(r"\b(sk|rk|pk)-[A-Za-z0-9_\-]{8,}")
_KEY_LIKE_ANYWHERE = re.compile(r"(sk|rk|pk)-[A-Za-z0-9_\-]{8,}")  # the same without the word boundary


class RecordingError(ValueError):
    """A recording cannot be used; the message says why and is safe to show."""


# --- view events from their JSON shape ------------------------------------------------------------

# Parsed by pydantic over the view event dataclasses themselves, told apart by their `type` (events.py
# forbids unknown fields on them). Validated as Python objects, not JSON text: a line was read already.
_EVENTS: TypeAdapter[ViewEvent] = TypeAdapter(Annotated[ViewEvent, Field(discriminator="type")])
_EVENT_TYPES = frozenset(cls.__dataclass_fields__["type"].default for cls in typing.get_args(ViewEvent))
# Events whose JSON names differ from their fields (their own `to_json`).
_RENAMED: dict[str, dict[str, str]] = {"handoff": {"from": "source", "to": "target"}}


def _problem(kind: str, error: dict[str, Any]) -> str:
    """One readable sentence for pydantic's first complaint about an event (never the value itself)."""
    where = ".".join(str(part) for part in error["loc"][1:])  # loc[0] is the union member's tag
    if error["type"] == "missing":
        return f"event {kind!r} lacks the field {where!r}."
    if error["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        return f"event {kind!r} has an unknown field {where!r}."
    return f"event {kind!r}: {where or 'the event'}: {error['msg']}."


def from_json(data: Any) -> ViewEvent:
    """The inverse of `streaming.events.to_json`; an unknown type or a bad field is a `RecordingError`."""
    if not isinstance(data, dict):
        raise RecordingError("An event must be a JSON object.")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _EVENT_TYPES:
        raise RecordingError(f"Unknown event type {str(kind)[:40]!r} (known types: {', '.join(sorted(_EVENT_TYPES))}).")
    renamed = _RENAMED.get(kind, {})
    try:
        return _EVENTS.validate_python({renamed.get(key, key): value for key, value in data.items()})
    except ValidationError as exc:
        raise RecordingError(_problem(kind, exc.errors()[0])) from None


# --- the file format ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimedEvent:
    t: float  # seconds since the turn started
    event: ViewEvent


@dataclass
class Recording:
    message: str
    agent: str | None
    backend: str
    started_at: str
    events: list[TimedEvent] = field(default_factory=list)
    final_agent: str | None = None
    input_list: list[Any] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.events[-1].t if self.events else 0.0


def scrub(value: Any, known_secrets: Iterable[str] = ()) -> Any:
    """`value` with every string cleaned of key-like text and of the given secrets (never recorded)."""
    known = [s for s in known_secrets if s and len(s) >= 4]

    def clean(item: Any) -> Any:
        if isinstance(item, str):
            for secret in known:
                item = item.replace(secret, REDACTED)
            return _KEY_LIKE.sub(REDACTED, item)
        if isinstance(item, dict):
            return {clean(k) if isinstance(k, str) else k: clean(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [clean(v) for v in item]
        return item

    return clean(value)


def scrubbed_json(value: Any, known_secrets: Iterable[str] = (), **dumps_options: Any) -> str:
    """`json.dumps(scrub(value, known_secrets))`, walking `value` only when its JSON text could hold a key.

    A string `scrub` would change holds a key-like run of characters or a known secret, and JSON keeps both
    visible in its text (it escapes only quotes, backslashes and control characters, one by one). So when
    the text holds neither, scrubbing changes nothing and the text is the answer: one pass in C instead of
    a Python walk over every string (a recorded turn has hundreds).
    """
    options = {"ensure_ascii": False, "default": str, **dumps_options}
    text = json.dumps(value, **options)
    known = [s for s in known_secrets if s and len(s) >= 4]
    if _KEY_LIKE_ANYWHERE.search(text) is None and not any(json.dumps(s, **options)[1:-1] in text for s in known):
        return text
    return json.dumps(scrub(value, known), **options)


def dump_lines(recording: Recording, known_secrets: Iterable[str] = ()) -> str:
    """The JSON Lines text of a recording (keys and the given secrets scrubbed)."""
    rows: list[dict[str, Any]] = [
        {
            "kind": "header",
            "version": VERSION,
            "message": recording.message,
            "agent": recording.agent,
            "backend": recording.backend,
            "started_at": recording.started_at,
        }
    ]
    rows += [{"kind": "event", "t": round(e.t, 4), "event": to_json(e.event)} for e in recording.events]
    rows.append({"kind": "final", "agent": recording.final_agent, "input_list": recording.input_list})
    known = list(known_secrets)
    return "".join(scrubbed_json(row, known) + "\n" for row in rows)


def _optional_str(row: dict[str, Any], key: str, where: str) -> str | None:
    value = row.get(key)
    if value is not None and not isinstance(value, str):
        raise RecordingError(f"{where}: {key!r} must be text.")
    return value


def parse_recording(data: bytes | str, max_bytes: int = MAX_RECORDING_BYTES) -> Recording:
    """A validated `Recording` from JSON Lines text; any problem is a `RecordingError`."""
    if len(data) > max_bytes:
        raise RecordingError(f"The file is too large ({len(data):,} bytes; the limit is {max_bytes:,}).")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise RecordingError("The file is not UTF-8 text, so it is not a recording.") from None
    lines = [(number, line) for number, line in enumerate(data.splitlines(), 1) if line.strip()]
    if not lines:
        raise RecordingError("The file is empty.")
    if len(lines) > MAX_RECORDING_EVENTS + 2:  # + the header and the final line
        raise RecordingError(f"The recording has too many events (over {MAX_RECORDING_EVENTS:,}).")
    rows = []
    for number, line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            raise RecordingError(f"Line {number} is not valid JSON.") from None
        except RecursionError:
            raise RecordingError(f"Line {number} nests too deeply to be part of a recording.") from None
        if not isinstance(row, dict):
            raise RecordingError(f"Line {number} must be a JSON object.")
        rows.append((number, row))
    number, header = rows[0]
    if header.get("kind") != "header":
        raise RecordingError("The first line must be the recording header ({\"kind\": \"header\", ...}).")
    if header.get("version") != VERSION:
        raise RecordingError(f"Unsupported recording version {str(header.get('version'))[:20]!r}; this app reads version {VERSION}.")
    recording = Recording(
        message=_optional_str(header, "message", "header") or "",
        agent=_optional_str(header, "agent", "header"),
        backend=_optional_str(header, "backend", "header") or "unknown",
        started_at=_optional_str(header, "started_at", "header") or "",
    )
    last_t = 0.0
    for index, (number, row) in enumerate(rows[1:], 1):
        kind = row.get("kind")
        if kind == "event":
            t = row.get("t")
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or not 0 <= t <= MAX_EVENT_TIME:
                raise RecordingError(f"Line {number}: 't' must be a number of seconds between 0 and {MAX_EVENT_TIME:g}.")
            if t < last_t:
                raise RecordingError(f"Line {number}: events must be in time order.")
            try:
                event = from_json(row.get("event"))
            except RecordingError as exc:
                raise RecordingError(f"Line {number}: {exc}") from None
            recording.events.append(TimedEvent(float(t), event))
            last_t = t
        elif kind == "final":
            if index != len(rows) - 1:
                raise RecordingError(f"Line {number}: the final line must be the last one.")
            recording.final_agent = _optional_str(row, "agent", f"line {number}")
            items = row.get("input_list", [])
            problem = check_history(items)  # the same rule as a chat import: see conversations.history
            if problem:
                raise RecordingError(f"Line {number}: {problem}")
            recording.input_list = items
        else:
            raise RecordingError(f"Line {number}: unknown line kind {str(kind)[:40]!r} (expected 'event' or 'final').")
    return recording


def read_capped(path: str | Path, limit: int, error: type[ValueError]) -> bytes:
    """An uploaded file's bytes, refused by its size before it is read; failures raise `error`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limit:
            raise error(f"The file is too large ({size:,} bytes; the limit is {limit:,}).")
        return path.read_bytes()
    except OSError:
        raise error("The file could not be read.") from None


def load_recording(path: str | Path, max_bytes: int = MAX_RECORDING_BYTES) -> Recording:
    """Read and validate a recording file; the size is checked before anything is read."""
    return parse_recording(read_capped(path, max_bytes, RecordingError), max_bytes)


# --- writing recordings as turns run ----------------------------------------------------------------


@dataclass
class RecordingPolicy:
    """Where recordings go and how much of them is kept (the oldest are deleted first)."""

    directory: Path
    max_files: int = 200
    max_bytes: int = 50 * 1024 * 1024
    known_secrets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> RecordingPolicy | None:
        """The policy for these settings, or None when recording is off (the default on public Spaces)."""
        if not getattr(settings, "record_runs", False):
            return None
        return cls(
            directory=Path(settings.recordings_dir),
            max_files=int(settings.recordings_max_files),
            max_bytes=int(settings.recordings_max_mb * 1024 * 1024),
            known_secrets=tuple(s for s in (settings.openai_api_key, settings.app_password) if s),
        )


class Recorder:
    """Collects one turn's view events with their time offsets; `write()` stores them as one file."""

    def __init__(self, message: str, agent: str | None, backend: str, clock=time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self.recording = Recording(
            message=message, agent=agent, backend=backend, started_at=datetime.now(timezone.utc).isoformat()
        )

    def record(self, event: ViewEvent) -> None:
        self.recording.events.append(TimedEvent(self._clock() - self._start, event))

    async def finish(self, conversation: Any) -> None:
        """Note the agent the conversation continues with and its SDK input list."""
        self.recording.final_agent = conversation.agent
        self.recording.input_list = [dict(item) for item in await conversation.session.get_items()]

    def write(self, policy: RecordingPolicy) -> Path:
        policy.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
        path = policy.directory / f"run-{stamp}-{secrets.token_hex(3)}.jsonl"
        text = dump_lines(self.recording, policy.known_secrets)
        partial = path.with_suffix(".part")
        try:
            # "replace": a lone surrogate a client sent must not cost the whole recording.
            partial.write_text(text, encoding="utf-8", errors="replace")
            partial.replace(path)  # readers never see half a file
        finally:
            partial.unlink(missing_ok=True)
        prune(policy)
        return path


def prune(policy: RecordingPolicy) -> list[Path]:
    """Delete the oldest recordings until at most `max_files` files and `max_bytes` remain; returns the deleted.

    Half-written files (`.part`) left by a process that died while writing go too.
    """
    for leftover in policy.directory.glob("*.part"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > 3600:
                leftover.unlink()
    # One stat per file (this runs after every recorded turn, over up to `max_files` files).
    stats = []
    for path in policy.directory.glob("*.jsonl"):
        with contextlib.suppress(OSError):
            stats.append((path, path.stat()))
    stats.sort(key=lambda pair: pair[1].st_mtime, reverse=True)
    kept_bytes, deleted = 0, []
    for index, (path, stat) in enumerate(stats):
        size = stat.st_size
        if index >= policy.max_files or (index > 0 and kept_bytes + size > policy.max_bytes):
            with contextlib.suppress(OSError):
                path.unlink()
                deleted.append(path)
            continue
        kept_bytes += size
    return deleted


async def recorded(
    source: AsyncIterator[ViewEvent], recorder: Recorder, conversation: Any, policy: RecordingPolicy
) -> AsyncIterator[ViewEvent]:
    """Pass a turn's events through unchanged, recording each as it is produced; write the file at the end.

    Closing this generator closes the turn (so its run is cancelled) before the recording is written.
    """
    try:
        async for event in source:
            recorder.record(event)
            yield event
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
        # A recording is a convenience: failing to write one never fails the chat.
        try:
            await recorder.finish(conversation)
            # Off the event loop: encoding a few hundred events and pruning the folder would hold up every
            # other chat's stream for milliseconds.
            await asyncio.to_thread(recorder.write, policy)
        except Exception as exc:  # noqa: BLE001
            log.warning("could not write a recording: %s", type(exc).__name__)


def record_turn(
    source: AsyncIterator[ViewEvent], settings: Any, backend_label: str, conversation: Any, message: str
) -> AsyncIterator[ViewEvent]:
    """`source` recorded when the settings ask for it, else `source` itself."""
    policy = RecordingPolicy.from_settings(settings)
    if policy is None:
        return source
    return recorded(source, Recorder(message, conversation.agent, backend_label), conversation, policy)
