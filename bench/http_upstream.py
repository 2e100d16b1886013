"""A loopback HTTP upstream for the cluster benchmark: `POST /v1/responses` as OpenAI streams it.

Replicas are separate `python app.py` processes, so the in-process benchmark model (bench/upstream.py)
cannot reach them: they talk to this server as to any OpenAI-compatible one (`OPENAI_BASE_URL`). The wire
format is tests/fake_openai.py's (the Responses SSE events the SDK parses); the answer is bench/upstream.py's
`w0000 w0001 ...`, one word per delta, paced at `--rate` deltas per second. The guardrail's check (a plain
JSON request) is answered "not blocked" at once.

    python -m bench.http_upstream --port 8399 --deltas 200 --rate 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bench.upstream import ALLOWED, answer
from tests.fake_openai import FakeOpenAI, Step, _is_guardrail, responses_events


def build_app(deltas: int, rate: float) -> Starlette:
    fake = FakeOpenAI()  # only for its ids: no script, every call gets the same answer
    text = answer(deltas) + " "  # fake_openai splits deltas at spaces: one word each

    async def responses(request: Request) -> Response:
        body = await request.json()
        if _is_guardrail(body) or not body.get("stream"):
            return JSONResponse(responses_events(fake, Step(text=ALLOWED, usage=(10, 1)), body)[-1]["response"])
        lines = [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in responses_events(fake, Step(text=text, usage=(10, deltas)), body)]

        async def produce():
            started, sent = time.monotonic(), 0
            for line in lines:
                if '"response.output_text.delta"' in line and rate > 0:
                    wait = started + sent / rate - time.monotonic()  # on schedule, whatever the write cost
                    if wait > 0:
                        await asyncio.sleep(wait)
                    sent += 1
                yield line

        return StreamingResponse(produce(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1/responses", responses, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deltas", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="deltas per second (0: as fast as possible)")
    args = parser.parse_args()
    uvicorn.run(build_app(args.deltas, args.rate), host="127.0.0.1", port=args.port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
