"""Pictures for the README: the offline app answering the billing question, in headless Chromium.

    python scripts/screenshots.py        # writes docs/screenshot.png, docs/screenshot-dark.png, docs/phone.png,
                                         # docs/streaming.gif and docs/approval.png

Runs the whole app on the offline demo model on a free loopback port, so the pictures show exactly
what `python app.py` shows with no key. Needs /usr/bin/chromium (apt-get install -y chromium
fonts-noto-color-emoji) and Pillow.
"""

from __future__ import annotations

import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Offline and quiet whatever the shell has set: the pictures must not depend on a key.
os.environ["AGENT_OFFLINE"] = "1"
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from PIL import Image  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from runtime import Runtime  # noqa: E402
from devtools.browser import JS_IDLE, JS_LAST_ANSWER, JS_NOTES, GradioChat, NetworkGuard, launch  # noqa: E402
from devtools.server import offline_settings, serve  # noqa: E402

DOCS = ROOT / "docs"
QUESTION = "I was charged twice on invoice INV-1001, can you refund me?"
CANCEL = "Please cancel my subscription."
# What the viewer can see change: the answer's length and each note's title and state.
JS_SIGNATURE = f"() => ({JS_LAST_ANSWER})().length + '|' + JSON.stringify(({JS_NOTES})())"
GIF_WIDTH = 640
MAX_FRAMES = 40


def capture_streaming(page, chat: GradioChat) -> list[tuple[Image.Image, float]]:
    """Frames of the chat area each time what it shows changes, with the time each stayed on screen."""
    chat_area = page.locator(".bubble-wrap")
    frames: list[tuple[Image.Image, float]] = []
    chat.send(QUESTION)
    page.wait_for_selector("[data-testid=bot]")
    while len(frames) < MAX_FRAMES:
        shown_at = time.monotonic()
        frames.append((Image.open(io.BytesIO(chat_area.screenshot())).convert("RGB"), shown_at))
        if page.evaluate(JS_IDLE):
            break
        signature = page.evaluate(JS_SIGNATURE)
        try:
            page.wait_for_function(f"s => ({JS_SIGNATURE})() !== s", arg=signature, timeout=10_000)
        except PlaywrightTimeoutError:
            break
    return frames


def save_gif(frames: list[tuple[Image.Image, float]], path: Path) -> None:
    """An animated GIF at real pace (each frame lasts until the next), holding the last frame."""
    images, durations = [], []
    for index, (image, shown_at) in enumerate(frames):
        next_at = frames[index + 1][1] if index + 1 < len(frames) else shown_at + 3.0
        scale = GIF_WIDTH / image.width
        small = image.resize((GIF_WIDTH, round(image.height * scale)), Image.LANCZOS)
        images.append(small.quantize(colors=64, method=Image.Quantize.MEDIANCUT))
        durations.append(max(60, round((next_at - shown_at) * 1000)))
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)


def chat_clip(page) -> dict:
    """From the title to the message box or the end of the run insight column, whichever is lower."""
    title = page.locator("h1").first.bounding_box()
    box = page.locator("textarea[data-testid=textbox]").bounding_box()
    timeline = page.locator("#trace-timeline").bounding_box()
    width = page.viewport_size["width"]
    top = max(0, title["y"] - 20)
    bottom = max(box["y"] + box["height"], timeline["y"] + timeline["height"] if timeline else 0) + 28
    return {"x": 0, "y": top, "width": width, "height": bottom - top}


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    # The demo's own pace: quick enough to read, slow enough to watch the text and the notes arrive.
    settings = offline_settings(demo_tokens_per_second=25, demo_tool_latency=0.6)
    with serve(Runtime.from_settings(settings)) as url, sync_playwright() as playwright:
        browser = launch(playwright)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        guard = NetworkGuard().install(context)
        page = context.new_page()
        chat = GradioChat(page, url)

        frames = capture_streaming(page, chat)
        chat.wait_idle()
        save_gif(frames, DOCS / "streaming.gif")

        # Notes collapsed: the whole turn fits, and each title still says who did what and how long it took.
        page.evaluate("() => { const c = document.querySelector('.bubble-wrap'); c.scrollTo(0, c.scrollHeight); }")
        page.wait_for_selector("#turn-stats table")
        page.screenshot(path=str(DOCS / "screenshot.png"), clip=chat_clip(page))

        # An approval waiting in a fresh chat: the note with the tool's arguments, Approve and Reject under it.
        approval_page = context.new_page()
        approval = GradioChat(approval_page, url)
        approval.send(CANCEL)
        approval_page.wait_for_selector(".options button.option", timeout=30_000)
        approval_page.wait_for_function("() => document.querySelector('#turn-stats').innerText.includes('Waiting')")
        # The note opens with a transition: the arguments show once it has ended.
        approval_page.wait_for_selector("[data-testid=bot] .thought-group .content pre", state="visible")
        approval_page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
        approval_page.screenshot(path=str(DOCS / "approval.png"), clip=chat_clip(approval_page))
        context.close()

        # Dark mode: the same turn, to show the graph and the table read in both themes.
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        NetworkGuard(guard.outside).install(context)
        page = context.new_page()
        chat = GradioChat(page, url + "?__theme=dark")
        chat.ask(QUESTION, timeout=60_000)
        page.wait_for_selector("#turn-stats table")
        page.wait_for_selector("#agent-graph svg g.node.active")
        page.screenshot(path=str(DOCS / "screenshot-dark.png"), clip=chat_clip(page))
        context.close()

        # A phone: the answer and the message box on one screen.
        context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True)
        NetworkGuard(guard.outside).install(context)
        page = context.new_page()
        chat = GradioChat(page, url)
        chat.ask(QUESTION, timeout=60_000)
        page.evaluate("() => { const c = document.querySelector('.bubble-wrap'); c.scrollTo(0, c.scrollHeight); }")
        page.evaluate("() => document.querySelector('#chatbot').scrollIntoView({block: 'start'})")
        page.screenshot(path=str(DOCS / "phone.png"))
        context.close()
        browser.close()
        if guard.outside:
            raise SystemExit(f"the page tried to reach outside hosts: {guard.outside}")
    for name in ("screenshot.png", "screenshot-dark.png", "phone.png", "streaming.gif", "approval.png"):
        print(f"{DOCS / name}: {(DOCS / name).stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
