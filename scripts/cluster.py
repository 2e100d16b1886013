"""A one-machine cluster: Redis, N replicas of `python app.py` sharing it, and nginx in front.

    python scripts/cluster.py --replicas 2 --port 8080      # prints the URL; Ctrl-C stops everything

Everything binds 127.0.0.1, runs unprivileged, and writes only under one temporary folder (logs
included: redis.log, replica-N.log, nginx's error.log and access.log). Every child is stopped by its
pid on exit (Ctrl-C, SIGTERM, a normal exit) and, on Linux, also dies with this process if it is killed.

Tests and the bench use `start()`, which returns a `Cluster` handle (urls, pids, `kill(replica)`).
"""

from __future__ import annotations

import argparse
import atexit
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
# max_fails=1: one refused connection marks a replica down for fail_timeout, so the requests after a
# crash go straight to the others; after that nginx tries it again (a restarted replica comes back).
SERVER_LINE = "        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;"


def missing_programs() -> list[str]:
    """The Debian packages this needs and that are not installed."""
    return [package for package, path in (("nginx", NGINX), ("redis-server", REDIS)) if not os.access(path, os.X_OK)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM when the parent dies, so no replica outlives a killed runner."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Replica:
    index: int
    port: int
    process: subprocess.Popen
    log: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def address(self) -> str:
        """How nginx names it in `X-Upstream` and its access log."""
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None


@dataclass
class Cluster:
    url: str  # nginx, ends with "/"
    redis_url: str
    replicas: list[Replica]
    folder: Path
    _others: list[subprocess.Popen] = field(default_factory=list)  # redis, nginx

    @property
    def pids(self) -> dict[str, int]:
        pids = {f"replica-{r.index}": r.pid for r in self.replicas}
        pids.update(redis=self._others[0].pid, nginx=self._others[1].pid)
        return pids

    def replica_at(self, upstream: str) -> Replica:
        """The replica named by an `X-Upstream` header (after a retry it lists several: the last answered)."""
        last = upstream.split(",")[-1].strip()
        return next(r for r in self.replicas if r.address == last)

    def kill(self, replica: Replica | int, sig: int = signal.SIGKILL) -> None:
        """Kill one replica by its pid (SIGKILL: no clean-up, as when a machine or container dies)."""
        replica = self.replicas[replica] if isinstance(replica, int) else replica
        if replica.alive():
            os.kill(replica.pid, sig)
        replica.process.wait(timeout=30)

    def restart(self, replica: Replica | int, timeout: float = 120.0) -> Replica:
        """Start a killed replica again on its port (nginx sends it traffic again after `fail_timeout`)."""
        replica = self.replicas[replica] if isinstance(replica, int) else replica
        if replica.alive():
            self.kill(replica)
        replica.process = _spawn([sys.executable, "app.py"], replica.log, replica.env)
        _wait(lambda: _answers(replica.url + "gradio_api/info"), f"replica {replica.index}", replica.process,
              replica.log, timeout)
        return replica

    def stop(self) -> None:
        """Stop every child by pid: replicas first, then nginx and Redis. Safe to call twice."""
        children = [r.process for r in self.replicas] + self._others[::-1]
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)  # the logs go too; the command line keeps them


def _spawn(command: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _wait(check, what: str, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} exited with status {process.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not start within {timeout:.0f} s (log: {log})")
        time.sleep(0.1)  # polling the child with a deadline


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def _redis_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def render_nginx_conf(prefix: Path, listen: str, ports: list[int]) -> str:
    servers = "\n".join(SERVER_LINE.format(port=port) for port in ports)
    text = TEMPLATE.read_text()
    for name, value in (("prefix", str(prefix)), ("listen", listen), ("servers", servers)):
        text = text.replace("{{" + name + "}}", value)
    return text


def start(replicas: int = 2, port: int = 0, env: dict[str, str] | None = None, timeout: float = 120.0) -> Cluster:
    """Start Redis, `replicas` app processes and nginx; return when all answer. `env` adds to the replicas' env."""
    missing = missing_programs()
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)} (apt-get install -y {' '.join(missing)})")
    folder = Path(tempfile.mkdtemp(prefix="cluster-"))
    children: list[subprocess.Popen] = []
    try:
        redis_port = free_port()
        redis_log = folder / "redis.log"
        redis = _spawn([REDIS, "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no",
                        "--dir", str(folder)], redis_log)
        children.append(redis)
        _wait(lambda: _redis_up(redis_port), "redis-server", redis, redis_log, 20)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"

        base = dict(os.environ)
        base.update(GRADIO_ANALYTICS_ENABLED="False", RECORD_RUNS="0", PYTHONUNBUFFERED="1")
        base.update(env or {})
        base.update(SESSION_DB_URL=redis_url, GRADIO_SERVER_NAME="127.0.0.1")
        started: list[Replica] = []
        for index in range(replicas):
            replica_port = free_port()
            log = folder / f"replica-{index}.log"
            replica_env = {**base, "GRADIO_SERVER_PORT": str(replica_port)}
            process = _spawn([sys.executable, "app.py"], log, replica_env)
            children.append(process)
            started.append(Replica(index, replica_port, process, log, replica_env))
        for replica in started:  # they start in parallel; wait for each
            _wait(lambda r=replica: _answers(r.url + "gradio_api/info"), f"replica {replica.index}", replica.process,
                  replica.log, timeout)

        nginx_port = port or free_port()
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (folder / sub).mkdir()
            if os.geteuid() == 0:  # started by root, nginx's workers run as `nobody`: let them use the temp dirs
                (folder / sub).chmod(0o1777)
        if os.geteuid() == 0:
            folder.chmod(0o755)
        conf = folder / "nginx.conf"
        conf.write_text(render_nginx_conf(folder, f"127.0.0.1:{nginx_port}", [r.port for r in started]))
        nginx_log = folder / "error.log"
        nginx = _spawn([NGINX, "-p", str(folder), "-c", str(conf), "-e", str(nginx_log)], folder / "nginx.out")
        children.append(nginx)
        url = f"http://127.0.0.1:{nginx_port}/"
        _wait(lambda: _answers(url + "gradio_api/info"), "nginx", nginx, nginx_log, 20)
    except BaseException:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        raise
    cluster = Cluster(url=url, redis_url=redis_url, replicas=started, folder=folder, _others=[redis, nginx])
    atexit.register(cluster.stop)
    return cluster


def main() -> None:
    parser = argparse.ArgumentParser(description="Redis + N app replicas + nginx on this machine, on loopback.")
    parser.add_argument("--replicas", type=int, default=2, help="app processes behind nginx (default 2)")
    parser.add_argument("--port", type=int, default=8080, help="nginx's port on 127.0.0.1 (default 8080, 0: any free)")
    args = parser.parse_args()
    cluster = start(args.replicas, args.port)

    def stop(signum, _frame):
        cluster.stop()
        sys.exit(128 + signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    print(f"Serving the chat on {cluster.url}  ({args.replicas} replicas behind nginx, sharing {cluster.redis_url})")
    for name, pid in cluster.pids.items():
        print(f"  {name}: pid {pid}")
    print(f"  logs: {cluster.folder}\nCtrl-C stops them all.", flush=True)
    while True:
        signal.pause()  # until Ctrl-C or SIGTERM

if __name__ == "__main__":
    main()
