"""The low-severity findings of the adversarial pass (issue 12, items 6-10), one test each."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import httpx
import pytest

from fileformats.recording import (
    MAX_RECORDING_EVENTS,
    Recorder,
    RecordingError,
    RecordingPolicy,
    parse_recording,
)
from streaming.events import TextDelta, to_json
from ui.export import ChatImportError, parse_export

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "recordings" / "billing-refund.jsonl"
HEADER = json.dumps({"kind": "header", "version": 1, "message": "hi", "agent": None, "backend": "t", "started_at": ""})


def _handler(demo, name: str):
    return next(fn.fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == name)


# --- 6: deeply nested JSON -------------------------------------------------------------------------


def test_deeply_nested_json_is_a_clear_error_not_a_recursion_error():
    deep = "[" * 200_000 + "]" * 200_000
    with pytest.raises(ChatImportError, match="nests too deeply"):
        parse_export(deep)
    with pytest.raises(RecordingError, match="nests too deeply"):
        parse_recording(HEADER + "\n" + '{"kind": "event", "t": 0, "event": ' + deep + "}\n")


# --- 7: replays parsed off the event loop, events capped --------------------------------------------


def test_a_recording_with_too_many_events_is_refused():
    event = json.dumps({"kind": "event", "t": 0, "event": to_json(TextDelta("x"))})
    text = HEADER + "\n" + (event + "\n") * (MAX_RECORDING_EVENTS + 2)
    with pytest.raises(RecordingError, match="too many events"):
        parse_recording(text)


async def test_replays_and_imports_are_parsed_off_the_event_loop(runtime, monkeypatch, tmp_path):
    import ui.export
    import ui.record_replay
    from app import build_demo

    threads: list[threading.Thread] = []

    def spy(original):
        def wrapper(*args, **kwargs):
            threads.append(threading.current_thread())
            return original(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(ui.record_replay, "load_recording", spy(ui.record_replay.load_recording))
    monkeypatch.setattr(ui.export, "parse_export", spy(ui.export.parse_export))
    demo = build_demo(runtime)
    replay = _handler(demo, "on_replay")(str(EXAMPLE), 20.0)
    await anext(replay)
    await replay.aclose()
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps({"kind": "agent-chat-export", "version": 1, "input_list": [], "messages": []}))
    await _handler(demo, "on_import")(str(chat))
    assert len(threads) == 2
    assert all(thread is not threading.main_thread() for thread in threads)


# --- 8: lone surrogates ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api():
    from tests.counting_server import counting_server

    yield from counting_server(demo_tokens_per_second=0)


def test_a_lone_surrogate_gets_a_clear_4xx_not_an_outage(api):
    post = lambda body: httpx.post(api.url + "chat", content=body, headers={"content-type": "application/json"}, timeout=20)
    message = post(b'{"message": "hi \\ud800"}')
    assert message.status_code == 422 and "not text" in message.json()["detail"]
    session = post(b'{"message": "hi", "session_id": "\\ud800"}')
    assert session.status_code == 404, session.text


def test_a_recording_with_a_lone_surrogate_is_written_and_leaves_no_part_file(tmp_path):
    recorder = Recorder("hi \ud800", None, "test")
    recorder.record(TextDelta("answer \udfff"))
    path = recorder.write(RecordingPolicy(directory=tmp_path))
    assert path.exists() and parse_recording(path.read_bytes()).events
    assert not list(tmp_path.glob("*.part"))


def test_pruning_removes_part_files_a_dead_process_left(tmp_path):
    from fileformats.recording import prune

    left = tmp_path / "run-x.part"
    left.write_text("")
    os.utime(left, (time.time() - 7200, time.time() - 7200))
    prune(RecordingPolicy(directory=tmp_path))
    assert not left.exists()


# --- 10: exports -----------------------------------------------------------------------------------


async def test_a_json_export_redacts_a_pasted_key(runtime):
    from app import build_demo

    demo = build_demo(runtime)
    history = [{"role": "user", "content": "my key is sk-proj-ABCDEFGHijklmnop1234"}, {"role": "assistant", "content": "ok"}]
    for name in ("on_export_json", "on_export_html"):
        path = await _handler(demo, name)(history, None)
        text = Path(path).read_text(encoding="utf-8")
        assert "sk-proj-ABCDEFGHijklmnop1234" not in text and "[redacted]" in text


async def test_export_folders_do_not_pile_up(runtime):
    from app import build_demo
    from ui.record_replay import EXPORT_KEEP_SECONDS, EXPORTS

    demo = build_demo(runtime)
    first = Path(await _handler(demo, "on_export_json")([], None)).parent
    old = time.time() - EXPORT_KEEP_SECONDS - 60
    os.utime(first, (old, old))
    second = Path(await _handler(demo, "on_export_json")([], None)).parent
    assert second.parent == EXPORTS and second.exists()
    assert not first.exists()


# --- 10: a short body, a reconnect right after a drop, password guessing -----------------------------


def test_a_body_shorter_than_its_content_length_gets_an_answer(api, monkeypatch):
    import socket

    from http_api import turns

    monkeypatch.setattr(turns, "BODY_SECONDS", 1)  # read at each request: no need to wait 15 s here
    host, port = api.url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"mess")
        answer = b""
        while b"did not arrive" not in answer and (chunk := sock.recv(4096)):  # headers and body may come apart
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408"), answer[:200]
    assert "did not arrive" in answer


async def test_a_turn_asked_for_as_the_previous_one_ends_waits_for_it(runtime):
    import asyncio

    from conversations import ConversationBusy

    conversation = await runtime.store.create()
    entered, release = asyncio.Event(), asyncio.Event()

    async def running_turn():
        async with runtime.store.turn(conversation.id):
            entered.set()
            await release.wait()

    first = asyncio.create_task(running_turn())
    await entered.wait()
    asyncio.get_running_loop().call_soon(release.set)  # the first turn is ending (a dropped stream's clean-up)
    async with runtime.store.turn(conversation.id):  # a reconnect right then is not "still answering"
        pass
    await first
    # A turn that really is running is still refused.
    entered.clear()
    release.clear()
    first = asyncio.create_task(running_turn())
    await entered.wait()
    with pytest.raises(ConversationBusy):
        async with runtime.store.turn(conversation.id):
            pass
    release.set()
    await first


@pytest.fixture(scope="module")
def locked_api():
    from tests.counting_server import counting_server

    yield from counting_server(demo_tokens_per_second=0, app_password="right-password")


def test_password_guessing_is_throttled_on_the_login_and_the_api(locked_api):
    from http_api.auth import LoginThrottle

    with httpx.Client(base_url=locked_api.url, timeout=20) as client:
        for _ in range(LoginThrottle.max_failures):
            wrong = client.post("login", data={"username": "x", "password": "guess"})
            assert wrong.status_code in (400, 401), wrong.status_code
        for attempt in (
            lambda: client.post("login", data={"username": "x", "password": "right-password"}),
            lambda: client.post("chat", json={"message": "hi"}, headers={"Authorization": "Bearer right-password"}),
        ):
            refused = attempt()
            assert refused.status_code == 429, refused.status_code
            assert int(refused.headers["retry-after"]) > 0 and refused.json()["detail"]


# --- 9: the SQLite file's folder -------------------------------------------------------------------


async def test_the_store_recovers_when_its_sqlite_folder_is_deleted(tmp_path):
    import shutil

    from conversations import open_store

    folder = tmp_path / "data"
    store = open_store(str(folder / "chats.sqlite3"), 3600)
    try:
        first = await store.create()
        assert await store.get(first.id) is not None
        shutil.rmtree(folder)
        second = await store.create()  # not a StoreError (503) until a restart
        assert await store.get(second.id) is not None
        await second.session.add_items([{"role": "user", "content": "hi"}])
        assert len(await store.items(second)) == 1
    finally:
        await store.close()


def test_an_unusable_session_db_url_stops_the_start_with_one_line(tmp_path):
    import subprocess
    import sys

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {**os.environ, "SESSION_DB_URL": str(blocker / "chats.sqlite3")}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "SESSION_DB_URL" in lines[0] and "Traceback" not in done.stderr, done.stderr[-500:]


# --- 10: turns cancelled mid-write leave no half-closed SQLite connection ----------------------------


async def test_cancelled_turns_leave_no_pending_sqlite_tasks(tmp_path):
    import asyncio
    import gc
    import logging

    from tests.test_stores import make_runtime

    destroyed: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "destroyed but it is pending" in record.getMessage():
                destroyed.append(record.getMessage())

    handler = Catch()
    logging.getLogger("asyncio").addHandler(handler)
    runtime = make_runtime(str(tmp_path / "chats.sqlite3"), demo_tokens_per_second=0, demo_tool_latency=0)
    try:
        conversation = await runtime.store.create()
        for attempt in range(40):

            async def turn():
                async with runtime.store.turn(conversation.id):
                    async for _ in runtime.turn(conversation, "I was charged twice on invoice INV-1001, can you refund me?"):
                        pass

            task = asyncio.create_task(turn())
            # Not a wait for something: this picks where in the turn (which store write) the cancel lands.
            await asyncio.sleep(0.002 * (attempt % 20))
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            gc.collect()
    finally:
        await runtime.aclose()
        gc.collect()
        logging.getLogger("asyncio").removeHandler(handler)
    assert not destroyed
