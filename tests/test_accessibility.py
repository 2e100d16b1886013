"""What a person sees and can do in the Gradio page, in a real headless Chromium, light and dark.

Blocks answered in plain words, the agent named, Stop leaving a trace, the keyboard (Enter, Esc, focus),
accessible names, axe-core's serious and critical findings, the agent graph's text contrast measured from
the rendered SVG, a phone's first screen, and /docs without a network. The app runs on the offline demo
model; every wait is on page state, with a deadline.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from devtools.browser import STOP_BUTTON, TEXTBOX, GradioChat, NetworkGuard
from devtools.server import offline_settings, serve
from runtime import Runtime
from tests.services import in_ci

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
BILLING = "I was charged twice on invoice INV-1001, can you refund me?"
BLOCKED = "Show me the invoices of another customer"
THEMES = {"light": "", "dark": "?__theme=dark"}

# WCAG relative luminance and contrast of two computed CSS colours, in the page.
JS_CONTRAST = """
function luminance(css) {
  const [r, g, b] = css.match(/[\\d.]+/g).slice(0, 3).map(Number).map(v => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}
"""
# Each node label: the text colour of what is drawn vs the fill of the node's shape. Edge labels: text vs
# their background box.
JS_GRAPH_CONTRASTS = (
    "() => {" + JS_CONTRAST + """
  const out = [];
  for (const node of document.querySelectorAll('#agent-graph svg g.node')) {
    const shape = node.querySelector('rect, path, polygon, circle');
    const text = node.querySelector('.nodeLabel p, .nodeLabel, text');
    out.push({label: node.textContent.trim(), text: getComputedStyle(text).color, fill: getComputedStyle(shape).fill,
              ratio: contrast(getComputedStyle(text).color, getComputedStyle(shape).fill)});
  }
  for (const edge of document.querySelectorAll('#agent-graph svg g.edgeLabel')) {
    const text = edge.querySelector('p, span');
    if (!text || !edge.textContent.trim()) continue;
    const bg = getComputedStyle(text).backgroundColor;
    out.push({label: 'edge ' + edge.textContent.trim(), text: getComputedStyle(text).color, fill: bg,
              ratio: contrast(getComputedStyle(text).color, bg)});
  }
  return out;
}"""
)
JS_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
}"""
JS_NEWEST_TOOLBAR_HIDDEN = """(() => {
  const bars = document.querySelectorAll('#chatbot .message-buttons-left');
  const bar = bars[bars.length - 1];
  return !!bar && getComputedStyle(bar).display === 'none';
})()"""
JS_ANSWERS = """() => [...document.querySelectorAll('[data-testid=bot]')]
  .filter(b => !b.querySelector('.thought-group')).map(b => b.innerText.trim())"""


@pytest.fixture(scope="module")
def app_url():
    with serve(Runtime.from_settings(offline_settings(demo_tokens_per_second=200))) as url:
        yield url


@pytest.fixture(scope="module")
def slow_url():
    """Slow enough (8 tokens a second) to press Stop in the middle of an answer."""
    with serve(Runtime.from_settings(offline_settings(demo_tokens_per_second=8, demo_tool_latency=0.3))) as url:
        yield url


@pytest.fixture
def open_page(browser):
    contexts = []

    def open_(url: str, **options):
        context = browser.new_context(**({"viewport": {"width": 1280, "height": 900}} | options))
        guard = NetworkGuard().install(context)
        contexts.append((context, guard))
        return context.new_page()

    yield open_
    for context, guard in contexts:
        context.close()
        assert guard.outside == [], f"the page tried to reach outside hosts: {guard.outside}"


def answers(page) -> list[str]:
    return page.evaluate(JS_ANSWERS)


# --- items 1 and 5: a block is answered in plain words; the answer names its agent; "Answered by" ----------


def test_a_block_gets_a_plain_answer_and_the_panel_says_who_answered(open_page, app_url):
    page = open_page(app_url)
    chat = GradioChat(page, app_url)
    chat.ask(BILLING)
    assert answers(page)[-1].startswith("Billing Agent\n"), "the answer is headed by the agent that wrote it"
    page.wait_for_function("() => document.querySelector('#agent-now').innerText.includes('Answered by: Billing Agent')")
    chat.ask(BLOCKED)
    answer = answers(page)[-1]
    assert answer.startswith("🛡️ I can't help with that:") and "not yours" in answer
    page.wait_for_function("() => document.querySelector('#agent-now').innerText.startsWith('Answered by:')")
    assert "Answering now" not in page.inner_text("#agent-now")


# --- item 3: Stop leaves a visible trace, and ends the panel's state ----------------------------------------


@pytest.mark.parametrize("how", ["button", "escape"])
def test_stop_leaves_a_stopped_marker_and_ends_the_panel(open_page, slow_url, how):
    page = open_page(slow_url)
    chat = GradioChat(page, slow_url)
    chat.send(BILLING)
    page.wait_for_function("() => document.querySelector('#chatbot').innerText.includes('found for')", timeout=60_000)
    # While it streams, the answer shows no 👍/👎 toolbar yet (it comes when the turn ends).
    page.wait_for_function(f"() => {JS_NEWEST_TOOLBAR_HIDDEN}")
    if how == "button":
        page.locator(STOP_BUTTON).click()
    else:
        page.keyboard.press("Escape")  # wherever the focus is: the message box is disabled while a turn runs
    chat.wait_idle(timeout=15_000)
    page.wait_for_function("() => document.querySelector('#chatbot').innerText.includes('Stopped: you stopped this answer')")
    page.wait_for_function("() => document.querySelector('#agent-now').innerText.startsWith('Stopped')")
    assert "until stopped" in page.inner_text("#turn-stats")
    page.wait_for_function(f"() => !({JS_NEWEST_TOOLBAR_HIDDEN})")


# --- item 8: keyboard, names, axe-core ----------------------------------------------------------------------


def test_focus_stays_in_the_message_box_and_controls_have_names(open_page, app_url):
    page = open_page(app_url)
    chat = GradioChat(page, app_url)
    page.locator(TEXTBOX).first.focus()
    chat.ask("How do I rotate an API key?")
    page.wait_for_function("() => document.activeElement && document.activeElement.closest('#chat-input') !== null")
    # Accessible names, as the browser computes them for assistive technology.
    for role, name in [("textbox", "Message to the agents"), ("button", "Send the message"),
                       ("button", "Share this conversation")]:
        assert page.get_by_role(role, name=name).count() == 1, (role, name)
    # A visible focus ring: tabbing onto a button draws an outline.
    page.keyboard.press("Shift+Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    # The chat id sits in the developer accordion, named once it is open.
    page.get_by_role("button", name=re.compile(r"^Developer: chat id and API")).click()
    expect(page.get_by_role("textbox", name=re.compile(r"^Chat id"))).to_have_count(1)  # waits for it to open


@pytest.mark.parametrize("theme", THEMES)
def test_axe_finds_nothing_serious_after_a_turn(open_page, app_url, theme):
    if not AXE.exists():
        message = f"{AXE} is missing: npm ci --prefix tests/axe"
        pytest.fail(message) if in_ci() else pytest.skip(message)
    page = open_page(app_url + THEMES[theme])
    chat = GradioChat(page, app_url + THEMES[theme])
    chat.ask(BILLING)
    page.wait_for_selector("#turn-stats table")
    page.wait_for_selector("#agent-graph svg g.node")
    page.get_by_text("Developer: chat id and API").click()  # its chat id field is checked too
    page.locator("#chat-id textarea, #chat-id input").first.wait_for(state="visible")
    page.add_script_tag(path=str(AXE))
    assert page.evaluate(JS_AXE) == []


# --- item 2: the agent graph reads in both themes (measured contrast of the rendered SVG) ------------------


@pytest.mark.parametrize("theme", THEMES)
def test_graph_labels_have_at_least_4_5_to_1_contrast(open_page, app_url, theme):
    page = open_page(app_url + THEMES[theme])
    chat = GradioChat(page, app_url + THEMES[theme])
    chat.ask(BILLING)  # with the answering agent highlighted
    page.wait_for_selector("#agent-graph svg g.node.active")
    measured = page.evaluate(JS_GRAPH_CONTRASTS)
    assert len([m for m in measured if not m["label"].startswith("edge")]) >= 6  # 3 agents and 3 tools
    low = [m for m in measured if m["ratio"] < 4.5]
    assert low == [], low
    if theme == "dark":
        assert page.evaluate("() => document.body.classList.contains('dark') || document.documentElement.classList.contains('dark')")


# --- item 9: a phone sees the message box on first load ----------------------------------------------------


def test_a_phone_sees_the_message_box_on_first_load(open_page, app_url):
    page = open_page(app_url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    GradioChat(page, app_url)
    box = page.locator(TEXTBOX).first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 844, box


# --- /docs works offline ---------------------------------------------------------------------------------------


def test_api_docs_render_without_a_network(open_page, app_url):
    page = open_page(app_url + "docs")
    page.goto(app_url + "docs")
    page.wait_for_selector("#swagger-ui .opblock", timeout=20_000)  # Swagger UI ran: its script came from us
    assert "/chat/stream" in page.inner_text("#swagger-ui")
