"""Optional shared password (APP_PASSWORD) for the UI and the API alike."""

from __future__ import annotations

import base64
import binascii
import secrets

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse


def _matches(given: str, password: str) -> bool:
    return secrets.compare_digest(given.encode(), password.encode())


def password_checker(password: str | None):
    """Gradio's `auth=` callable: any user name, the shared password."""
    if not password:
        return None
    return lambda _username, given: _matches(given, password)


def _given_password(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def _denied() -> HTTPException:
    return HTTPException(
        401,
        "This server needs the password: send Authorization: Bearer <APP_PASSWORD>.",
        headers={"WWW-Authenticate": 'Basic realm="agent"'},
    )


def require_password(password: str | None):
    """A FastAPI dependency: `Authorization: Bearer <password>` or HTTP Basic with any user name.

    Gradio's `auth=` protects only Gradio's own routes, so without this the API would stay public
    while the UI asks for a password.
    """

    async def check(request: Request) -> None:
        given = _given_password(request)
        if password and not (given and _matches(given, password)):
            raise _denied()

    return Depends(check)


def protect_docs(app: FastAPI, password: str | None) -> None:
    """The API schema pages are FastAPI's own routes, which app dependencies do not cover."""
    if not password:
        return
    docs_paths = {path for path in (app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url) if path}

    @app.middleware("http")
    async def require_password_for_docs(request: Request, call_next):
        given = _given_password(request)
        if request.url.path in docs_paths and not (given and _matches(given, password)):
            denied = _denied()
            return JSONResponse({"detail": denied.detail}, status_code=401, headers=denied.headers)
        return await call_next(request)


class LoginThrottle:
    """ASGI middleware: a client (by IP) with too many wrong passwords gets 429 for a while.

    Counts failed Gradio logins (`POST /login`) and API requests refused for a wrong password (401).
    Plain ASGI, not `@app.middleware("http")`, so streamed answers pass through untouched.
    Behind a reverse proxy every client has the proxy's address: limit there too (docs/security.md).
    """

    max_failures = 20  # a person mistyping never gets near; a guesser gets one try every 3 s
    window_seconds = 60.0
    max_clients = 10_000  # bound on the memory the counters take

    def __init__(self, app, clock=None):
        import time

        self.app = app
        self._clock = clock or time.monotonic
        self._failures: dict[str, list[float]] = {}

    def _recent(self, client: str) -> list[float]:
        now = self._clock()
        times = [t for t in self._failures.get(client, []) if now - t < self.window_seconds]
        if times:
            self._failures[client] = times
        else:
            self._failures.pop(client, None)
        return times

    def _fail(self, client: str) -> None:
        if len(self._failures) >= self.max_clients and client not in self._failures:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, []).append(self._clock())

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        client = (scope.get("client") or ("?", 0))[0]
        path = scope.get("path", "")
        is_login = path.rstrip("/").endswith("/login") and scope.get("method") == "POST"
        tries_password = is_login or any(name == b"authorization" for name, _ in scope.get("headers", []))
        recent = self._recent(client) if tries_password else []
        if len(recent) >= self.max_failures:
            retry = max(1, int(self.window_seconds - (self._clock() - recent[0])) + 1)
            response = JSONResponse(
                {"detail": "Too many wrong passwords from this address. Try again later."},
                status_code=429,
                headers={"Retry-After": str(retry)},
            )
            return await response(scope, receive, send)

        async def watch(message):
            if message["type"] == "http.response.start":
                status = message["status"]
                if tries_password and (status == 401 or (is_login and status in (400, 401))):
                    self._fail(client)
            await send(message)

        return await self.app(scope, receive, watch)


def throttle_logins(app: FastAPI, password: str | None) -> None:
    if password:
        app.add_middleware(LoginThrottle)
