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
