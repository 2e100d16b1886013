"""Make model and tool text inert before the Chatbot renders it as Markdown.

Model output is untrusted (prompt injection can make it hostile). Raw HTML is shown as text, a
Markdown image becomes a plain link (an image would be fetched at once: a tracking beacon), and
links keep only web and mail schemes.
"""

from __future__ import annotations

import html
import re

_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_LINK_TARGET = re.compile(r"\]\(\s*<?\s*(?!https?://|mailto:|#)([a-z][a-z0-9+.\-]*):", re.IGNORECASE)
_BARE_SCHEME = re.compile(r"\b(javascript|vbscript|data)\s*:", re.IGNORECASE)


# Code (fenced, possibly still open while streaming, or inline) is shown as text by Markdown itself.
_CODE = re.compile(r"(```[\s\S]*?(?:```|\Z)|`[^`\n]+`)")


def _inert(prose: str) -> str:
    prose = html.escape(prose, quote=False)
    prose = _IMAGE.sub(lambda m: f"[image: {m.group(1) or 'untitled'}]({m.group(2)})", prose)
    # Reference-style images (`![x][ref]` with `[ref]: url` elsewhere) load just the same: escape the bracket.
    prose = prose.replace("![", "!\\[")
    prose = _LINK_TARGET.sub(lambda m: f"](unsafe-{m.group(1)}-link:", prose)
    return _BARE_SCHEME.sub(lambda m: f"{m.group(1)}&#58;", prose)


def safe_markdown(text: str) -> str:
    parts = _CODE.split(text)
    # split() with one group alternates prose, code, prose, ...
    return "".join(part if index % 2 else _inert(part) for index, part in enumerate(parts))


def code_block(text: str, language: str = "") -> str:
    """A fenced block that the text inside cannot close early."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"
