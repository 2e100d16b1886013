"""The app attacked from outside: every registered Gradio event, every input slot, file-shaped payloads.

Gradio copies any file named in an event's input into its cache and serves it back, unless its
path checks run. Here an attacker reads `/config`, then sends to every dependency (`fn_index`),
through both `/gradio_api/run/predict` and `/gradio_api/queue/join` (reading the SSE answer), every
shape of file payload naming server files: a `.env`-like secret, `/etc/hostname`, the SQLite
database of the conversations, relative paths. No answer may carry a secret, no cache URL may
serve one, and Gradio's cache folder must hold no copy of any of them afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.server import offline_settings, serve
from runtime import Runtime

TIMEOUT = httpx.Timeout(20.0)
FILE_META = {"_type": "gradio.FileData"}


@pytest.fixture(scope="module")
def target(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The app on a file-backed SQLite store, its own Gradio cache folder, and server files to steal."""
    root = tmp_path_factory.mktemp("sec")
    token = "sk-SECRET" + secrets.token_hex(12)
    secret_env = root / ".env"
    secret_env.write_text(f"OPENAI_API_KEY={token}\n")
    secret_txt = root / "notes.txt"  # in the temp folder, which Gradio allows for outputs
    secret_txt.write_text(f"password {token}\n")
    big = root / "big.json"
    big.write_bytes(b" " * (6 * 1024 * 1024 + 123))
    cache = root / "gradio-cache"
    cache.mkdir()
    db = root / "conversations.db"
    old_temp = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(cache)  # read when the components are built (inside serve)
    try:
        runtime = Runtime.from_settings(offline_settings(session_db_url=str(db)))
        with serve(runtime) as url:
            # One chat, so the database holds a user's words.
            httpx.post(url + "chat", json={"message": f"my private note {token}"}, timeout=TIMEOUT).raise_for_status()
            yield {
                "url": url,
                "token": token,
                "files": [secret_env, secret_txt, Path("/etc/hostname"), db],
                "big": big,
                "cache": cache,
            }
    finally:
        if old_temp is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = old_temp


# --- payloads ------------------------------------------------------------------------------------


def path_forms(path: Path) -> list[str]:
    """Ways to name one server file: absolute, relative to the server's folder, with `..` and `./`."""
    absolute = str(path)
    return [absolute, os.path.relpath(absolute, os.getcwd()), f"{path.parent}/../{path.parent.name}/./{path.name}"]


def file_data(path: str, **extra: Any) -> dict[str, Any]:
    return {"path": path, "meta": FILE_META, **extra}


def payload_shapes(path: str) -> list[Any]:
    """Every shape a file can take in a Gradio payload, bare and nested in the values components take."""
    fd = file_data(path)
    chat_file_part = {"type": "file", "file": fd}
    return [
        fd,
        file_data(path, is_stream=True),
        file_data(path, url=f"/gradio_api/file={path}"),
        file_data(path, url=f"file://{path}"),
        {"path": path},  # no meta
        [fd],
        {"value": fd},  # a prop input's shape
        {"nested": [{"deeper": fd}]},
        [{"role": "user", "content": [chat_file_part]}],
        [{"role": "user", "content": [{"type": "text", "text": "hi"}, chat_file_part]}],
        [{"role": "assistant", "content": [{"type": "component", "component": "file", "value": [fd], "constructor_args": {}, "props": {}}]}],
        [{"role": "user", "content": {"path": path}}],
        [{"role": "user", "content": chat_file_part, "metadata": None}],
    ]


def dependencies(url: str) -> list[tuple[int, int]]:
    """(fn_index, number of inputs) of every event the app registers, from its public /config."""
    config = httpx.get(url + "config", timeout=TIMEOUT).json()
    return [(index, len(dep["inputs"])) for index, dep in enumerate(config["dependencies"])]


def attacks(url: str, files: list[Path], every_form: bool = True) -> Iterator[tuple[int, list[Any]]]:
    """Every event x every input slot x every payload shape naming the first secret; then a bare
    FileData naming each other file (in every path form when `every_form`)."""
    first, *others = files
    for fn_index, arity in dependencies(url):
        for slot in range(max(arity, 1)):
            payloads = payload_shapes(str(first))
            for file in [first, *others]:
                forms = path_forms(file) if every_form else [str(file)]
                payloads += [file_data(form) for form in forms if form != str(first)]
            for payload in payloads:
                data: list[Any] = [None] * max(arity, 1)
                data[slot] = payload
                yield fn_index, data


def run_predict(client: httpx.Client, fn_index: int, data: list[Any]) -> str:
    body = {"data": data, "fn_index": fn_index, "session_hash": uuid.uuid4().hex[:10], "event_data": None}
    return client.post("gradio_api/run/predict", json=body).text


def queue_join(client: httpx.Client, fn_index: int, data: list[Any]) -> str:
    """Join the queue and read the session's SSE until this event completes; the whole exchange as text."""
    session = uuid.uuid4().hex[:10]
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = client.post("gradio_api/queue/join", json=body)
    text = joined.text
    if joined.status_code != 200:
        return text
    with client.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            text += line + "\n"
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") in ("process_completed", "close_stream", "unexpected_error"):
                break
    return text


def file_urls(text: str) -> set[str]:
    return set(re.findall(r"gradio_api/(?:file=|stream/)[^\"'\s\\]+", text))


def assert_nothing_leaked(client: httpx.Client, target: dict[str, Any], answers: list[str]) -> None:
    token = target["token"]
    hostname = Path("/etc/hostname").read_text().strip()
    secret_hashes = {hashlib.sha256(f.read_bytes()).hexdigest() for f in target["files"]}
    for answer in answers:
        assert token not in answer
        assert "SQLite format 3" not in answer
        if len(hostname) >= 8:
            assert hostname not in answer
    urls = set().union(*(file_urls(a) for a in answers))
    for url in urls:
        served = client.get(url)
        assert served.status_code >= 400 or token.encode() not in served.content, url
        assert b"SQLite format 3" not in served.content, url
        assert hashlib.sha256(served.content).hexdigest() not in secret_hashes, url
    for copy in target["cache"].rglob("*"):
        if copy.is_file():
            content = copy.read_bytes()
            assert token.encode() not in content, copy
            assert hashlib.sha256(content).hexdigest() not in secret_hashes, copy


def test_no_event_serves_a_server_file_through_run_predict(target):
    with httpx.Client(base_url=target["url"], timeout=TIMEOUT) as client:
        answers = [run_predict(client, fn_index, data) for fn_index, data in attacks(target["url"], target["files"])]
        assert len(answers) > 500  # every event, slot, file and shape was tried
        assert_nothing_leaked(client, target, answers)


def test_no_event_serves_a_server_file_through_the_queue(target):
    with httpx.Client(base_url=target["url"], timeout=TIMEOUT) as client:
        answers = [queue_join(client, fn_index, data) for fn_index, data in attacks(target["url"], target["files"], every_form=False)]
        assert_nothing_leaked(client, target, answers)


def test_the_file_route_refuses_server_files(target):
    with httpx.Client(base_url=target["url"], timeout=TIMEOUT) as client:
        for file in target["files"]:
            for form in path_forms(file):
                answer = client.get(f"gradio_api/file={form}")
                assert answer.status_code in (403, 404), form
                assert target["token"].encode() not in answer.content


def _file_events(url: str) -> list[int]:
    """The fn_index of every event that takes a gr.File input (the replay and the import)."""
    config = httpx.get(url + "config", timeout=TIMEOUT).json()
    types = {c["id"]: c["type"] for c in config["components"]}
    return [i for i, dep in enumerate(config["dependencies"]) if "file" in [types[x] for x in dep["inputs"]]]


def test_file_events_do_not_reveal_whether_a_server_file_exists_or_its_size(target):
    big, missing = target["big"], target["big"].with_name("no-such-file.json")
    small = target["files"][1]
    size_figures = (f"{big.stat().st_size:,}", str(big.stat().st_size))
    with httpx.Client(base_url=target["url"], timeout=TIMEOUT) as client:
        events = _file_events(target["url"])
        assert len(events) >= 2  # the replay and the import
        for fn_index in events:
            arity = len(httpx.get(target["url"] + "config").json()["dependencies"][fn_index]["inputs"])
            answers = {}
            for name, path in (("big", big), ("small", small), ("missing", missing)):
                data: list[Any] = [None] * arity
                data[0] = file_data(str(path))
                text = queue_join(client, fn_index, data) + run_predict(client, fn_index, data)
                for figure in size_figures:
                    assert figure not in text
                for tell in ("too large", "not valid JSON", "could not be read", "not UTF-8"):
                    assert tell not in text, (fn_index, name, tell)
                answers[name] = _normalised(text, str(path))
            assert answers["big"] == answers["small"] == answers["missing"], fn_index


def _normalised(text: str, path: str) -> str:
    """An answer without what differs between two identical requests (ids, timings, the path itself)."""
    text = text.replace(path, "<path>").replace(os.path.abspath(path), "<path>")
    text = re.sub(r'"(event_id|session_hash|duration|average_duration|time|eta|rank_eta|success|title)":\s*("[^"]*"|[0-9.e-]+|true|false|null)', r'"\1":_', text)
    return re.sub(r"[0-9a-f]{32}", "<id>", text)


def test_the_chat_refuses_file_parts_even_of_files_a_user_uploaded(target):
    """An uploaded file passes Gradio's own check; this chat takes text, so its events refuse file parts."""
    with httpx.Client(base_url=target["url"], timeout=TIMEOUT) as client:
        uploaded = client.post("gradio_api/upload", files={"files": ("mine.txt", b"my own upload", "text/plain")}).json()[0]
        config = client.get("config").json()
        types = {c["id"]: c["type"] for c in config["components"]}
        chat_events = [i for i, dep in enumerate(config["dependencies"]) if "chatbot" in [types[x] for x in dep["inputs"]]]
        assert chat_events
        for fn_index in chat_events:
            dep = config["dependencies"][fn_index]
            data: list[Any] = [None] * len(dep["inputs"])
            data[[types[x] for x in dep["inputs"]].index("chatbot")] = [
                {"role": "user", "content": [{"type": "file", "file": file_data(uploaded)}]}
            ]
            answer = run_predict(client, fn_index, data)
            assert "my own upload" not in answer
            assert "mine.txt" not in answer, (fn_index, answer[:300])
