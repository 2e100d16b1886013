"""Capacity of one and of two replicas behind nginx on this machine: `python -m bench.cluster`.

Each configuration is a real cluster (scripts/cluster.py: Redis, N x `python app.py`, nginx) whose
replicas talk to a loopback HTTP upstream (bench/http_upstream.py) as to any OpenAI-compatible server.
`CHATS` clients then each send one message through nginx to `/chat/stream`, all at once, and read the
answer as it streams. Figures: time to the first text and to the whole answer (against the upstream's
own generation time), failed chats, how nginx spread the chats, and the replicas' CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass

import httpx

from bench.client import Chat, _watch
from bench.http_upstream import HttpUpstream
from bench.upstream import word
from scripts.cluster import Cluster, start

DELTAS, RATE = 200, 100.0  # each answer: 200 text deltas at 100 a second, 2 s of generation
CHATS = (20, 50)
REPLICAS = (1, 2)


@dataclass
class Row:
    replicas: int
    chats: int
    ttft: list[float]
    done: list[float]
    failed: int
    spread: Counter
    cpu: float  # CPU seconds all replicas used during the run
    wall: float
    load: float  # the machine's 1-minute load average when the row ended (other work shares the cores)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def one_chat(client: httpx.AsyncClient, url: str) -> tuple[Chat, str]:
    first, last = word(0).encode(), word(DELTAS - 1).encode()
    chat, upstream = Chat(sent=time.monotonic()), "?"
    try:
        async with client.stream("POST", url + "chat/stream", json={"message": "bench"}) as response:
            upstream = response.headers.get("x-upstream", "?")
            if response.status_code != 200:
                return chat, upstream
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    chat.events += 1
                    _watch(chat, line.encode(), first, last)
    except httpx.HTTPError:
        chat.final = None
    return chat, upstream


async def many(url: str, count: int) -> list[tuple[Chat, str]]:
    limits = httpx.Limits(max_connections=count + 8)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        return await asyncio.gather(*(one_chat(client, url) for _ in range(count)))


def measure(cluster: Cluster, count: int) -> Row:
    pids = [replica.pid for replica in cluster.replicas]
    before, started = sum(cpu_seconds(pid) for pid in pids), time.monotonic()
    results = asyncio.run(many(cluster.url, count))
    wall = time.monotonic() - started
    cpu = sum(cpu_seconds(pid) for pid in pids) - before
    ok = [(chat, upstream) for chat, upstream in results if chat.final is not None and chat.first_text is not None]
    return Row(
        replicas=len(cluster.replicas),
        chats=count,
        ttft=[chat.first_text - chat.sent for chat, _ in ok],
        done=[chat.final - chat.sent for chat, _ in ok],
        failed=count - len(ok),
        spread=Counter(cluster.replica_at(upstream).index for _, upstream in ok),
        cpu=cpu,
        wall=wall,
        load=os.getloadavg()[0],
    )


def render(rows: list[Row]) -> str:
    generation = DELTAS / RATE
    lines = [
        f"Each chat: one `/chat/stream` turn through nginx, {DELTAS} text deltas at {RATE:.0f}/s from the loopback "
        f"upstream (generation {generation:.1f} s); all chats sent at once; one run per row.",
        "",
        "| replicas | chats | p50 first text (s) | p95 first text (s) | p95 completion (s) | p95 completion / generation "
        "| failed | chats per replica | replica CPU per chat (ms) | load average |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        spread = " / ".join(str(row.spread[i]) for i in range(row.replicas))
        lines.append(
            f"| {row.replicas} | {row.chats} | {statistics.median(row.ttft):.2f} | {p95(row.ttft):.2f} | {p95(row.done):.2f} "
            f"| {p95(row.done) / generation:.2f} | {row.failed} | {spread} | {1000 * row.cpu / row.chats:.0f} | {row.load:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, nargs="+", default=list(REPLICAS))
    parser.add_argument("--chats", type=int, nargs="+", default=list(CHATS))
    args = parser.parse_args()
    upstream = HttpUpstream()  # its own process; answers DELTAS words at RATE a second
    upstream.configure(deltas=DELTAS, rate=RATE)
    env = {
        "OPENAI_BASE_URL": upstream.base_url,
        "OPENAI_API_KEY": "bench-not-a-key",
        "OPENAI_DEFAULT_MODEL": "bench",
        "AGENT_OFFLINE": "",
        "AGENT_CONCURRENCY": "64",
    }
    rows: list[Row] = []
    try:
        for replicas in args.replicas:
            with start(replicas, env=env) as cluster:
                asyncio.run(many(cluster.url, 4 * replicas))  # warm-up: lazy imports and first connections
                for count in args.chats:
                    rows.append(measure(cluster, count))
                    print(f"{replicas} replica(s), {count} chats done", file=sys.stderr)
    finally:
        upstream.close()
    print(f"Machine: {os.cpu_count()} CPUs (nproc).\n")
    print(render(rows))


if __name__ == "__main__":
    main()
