"""Optional shared password (APP_PASSWORD) for the UI and the API alike."""

from __future__ import annotations

import base64
import binascii
import secrets

from fastapi import Depends, HTTPException, Request


def _matches(given: str, password: str) -> bool:
    return secrets.compare_digest(given.encode(), password.encode())


def password_checker(password: str | None):
    """Gradio's `auth=` callable: any user name, the shared password."""
    if not password:
        return None
    return lambda _username, given: _matches(given, password)


def require_password(password: str | None):
    """A FastAPI dependency: `Authorization: Bearer <password>` or HTTP Basic with any user name.

    Gradio's `auth=` protects only Gradio's own routes, so without this the API would stay public
    while the UI asks for a password.
    """

    async def check(request: Request) -> None:
        if not password:
            return
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        given = ""
        if scheme.lower() == "bearer":
            given = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                given = base64.b64decode(credentials).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                given = ""
        if not given or not _matches(given, password):
            raise HTTPException(401, "This server needs the password: send Authorization: Bearer <APP_PASSWORD>.",
                                headers={"WWW-Authenticate": 'Basic realm="agent"'})

    return Depends(check)
