"""Driving the app in a real headless Chromium: launch, network guard, and the Gradio chat's DOM.

Shared by the browser tests and scripts/screenshots.py. The DOM selectors below were read off
Gradio 6.31's Chatbot: each assistant message is a `[data-testid=bot]`; a message with metadata is a
`.thought-group` whose `.title` holds the note's title and, while the note is pending, a
`.loading-spinner`; the textbox is disabled and a stop button is shown while a turn runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download does not work here; Debian's chromium does, with these flags.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def chromium_missing_reason() -> str | None:
    """Why a browser cannot be launched here, or None."""
    if CHROMIUM.exists():
        return None
    return f"{CHROMIUM} is not installed (apt-get install -y chromium fonts-noto-color-emoji)"


def launch(playwright):
    """A headless Debian Chromium browser."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


@dataclass
class NetworkGuard:
    """Lets loopback requests through and aborts, and records, every other one.

    Hostile model output may try to load a tracking image or script from outside: the test must see
    the attempt without anything ever leaving the machine.
    """

    outside: list[str] = field(default_factory=list)

    def install(self, context) -> NetworkGuard:
        context.route("**/*", self._handle)
        return self

    def _handle(self, route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK_HOSTS:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()


# --- the Gradio chat page ------------------------------------------------------------------------------

TEXTBOX = "textarea[data-testid=textbox]"
STOP_BUTTON = "[data-testid=stop-button]"

# Browser-side helpers, as JavaScript function bodies evaluated on the page.
JS_LAST_ANSWER = """() => {
  const bots = [...document.querySelectorAll('[data-testid=bot]')].filter(b => !b.querySelector('.thought-group'));
  const last = bots[bots.length - 1];
  return last ? last.querySelector('.message-content').innerText : '';
}"""
JS_NOTES = """() => [...document.querySelectorAll('[data-testid=bot] .thought-group > .title')].map(t => ({
  title: t.querySelector('.md').innerText.trim(),
  pending: !!t.querySelector('.loading-spinner'),
}))"""
JS_IDLE = """() => {
  const box = document.querySelector('textarea[data-testid=textbox]');
  const stop = document.querySelector('[data-testid=stop-button]');
  const rows = document.querySelectorAll('.message-row');
  const last = rows[rows.length - 1];
  return !!box && !box.disabled && !stop && !!last && last.classList.contains('bot-row');
}"""


class GradioChat:
    """The ChatInterface page, as a user sees it."""

    def __init__(self, page, url: str):
        self.page = page
        page.goto(url)
        page.wait_for_selector(TEXTBOX)

    def send(self, message: str) -> None:
        box = self.page.locator(TEXTBOX)
        box.fill(message)
        box.press("Enter")

    def last_answer(self) -> str:
        """The text of the newest assistant message that is not a note."""
        return self.page.evaluate(JS_LAST_ANSWER)

    def notes(self) -> list[dict]:
        """Every note (tool, handoff, thinking…) in the chat: its title and whether it is pending."""
        return self.page.evaluate(JS_NOTES)

    def user_messages(self) -> list[str]:
        return self.page.locator("[data-testid=user]").all_inner_texts()

    def wait_idle(self, timeout: float = 30_000) -> None:
        """Until the turn has ended: the textbox is enabled again and the stop button is gone."""
        self.page.wait_for_function(JS_IDLE, timeout=timeout)

    def ask(self, message: str, timeout: float = 30_000) -> str:
        """Send a message, wait for the turn to end, return the answer text."""
        before = len(self.user_messages())
        self.send(message)
        self.page.wait_for_function(
            "n => document.querySelectorAll('[data-testid=user]').length > n", arg=before, timeout=timeout
        )
        self.wait_idle(timeout)
        return self.last_answer()
