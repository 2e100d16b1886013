"""Kept for imports written before devtools/ existed; the helpers live in devtools.server."""

from devtools.server import free_port, offline_settings, serve, serve_asgi  # noqa: F401
