"""Approvals and a reloaded tab in a real headless Chromium: the buttons appear under the waiting call,
keyboard reaches them, a reload redraws the chat from the store with the buttons still there, and
Approve resumes the run in the same chat (the tool runs once)."""

from __future__ import annotations

import pytest

from devtools.browser import JS_LAST_ANSWER, JS_NOTES, GradioChat
from tests.test_approvals import CANCEL, Executions, make_runtime

pytestmark = pytest.mark.browser

JS_FOCUSED = "() => document.activeElement ? document.activeElement.tagName + ':' + document.activeElement.innerText.trim() : ''"


def buttons(page) -> list[str]:
    return page.locator(".options button.option").all_inner_texts()


def wait_for_buttons(page, timeout: float = 20_000) -> None:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.options button.option')].map(b => b.innerText.trim()).join('|') === 'Approve|Reject'",
        timeout=timeout,
    )


def tab_to(page, label: str, limit: int = 40) -> None:
    """Move the focus with the keyboard alone (Tab from the message box) until it is on the button."""
    page.locator("textarea[data-testid=textbox]").focus()
    for _ in range(limit):
        if page.evaluate(JS_FOCUSED) == f"BUTTON:{label}":
            return
        page.keyboard.press("Shift+Tab")
    raise AssertionError(f"the keyboard did not reach the {label} button")


def test_approve_in_the_chat_survives_a_reload_and_resumes_the_run(start_app, page):
    executions = Executions()
    url = start_app(make_runtime(executions=executions))
    chat = GradioChat(page, url)
    chat.send(CANCEL)
    wait_for_buttons(page)
    titles = [note["title"] for note in page.evaluate(JS_NOTES)]
    assert "✋ cancel_subscription needs your approval" in titles
    page.wait_for_function("() => document.querySelector('#turn-stats').innerText.includes('Waiting for a decision')", timeout=10_000)
    assert executions.count == 0

    # A reload: the tab keeps its chat id, and the chat is drawn again from the store, buttons included.
    page.reload()
    page.wait_for_selector("textarea[data-testid=textbox]")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=user]').length === 1", timeout=20_000)
    assert chat.user_messages() == [CANCEL]
    wait_for_buttons(page)
    assert "✋ cancel_subscription needs your approval" in [n["title"] for n in page.evaluate(JS_NOTES)]

    # Keyboard only: reach Approve and press Enter; the run streams on in the same chat.
    tab_to(page, "Approve")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => ({JS_LAST_ANSWER})().includes('Subscription cancelled')", timeout=20_000)
    chat.wait_idle()
    assert buttons(page) == []
    assert chat.user_messages() == [CANCEL, "Approve"]  # the button pressed shows as the person's reply
    titles = [n["title"] for n in page.evaluate(JS_NOTES)]
    assert "✅ cancel_subscription: approved" in titles  # the question says how it was decided, live too
    assert "✋ cancel_subscription needs your approval" not in titles
    assert executions.count == 1

    # Another reload shows the decided chat, without buttons; the id sits in the developer accordion.
    page.reload()
    page.wait_for_function(f"() => ({JS_LAST_ANSWER})().includes('Subscription cancelled')", timeout=20_000)
    assert buttons(page) == []
    assert chat.user_messages() == [CANCEL, "Approve"]
    assert "✅ cancel_subscription: approved" in [n["title"] for n in page.evaluate(JS_NOTES)]
    # The reloaded tab goes on with the same chat (the id box is in a closed accordion, and still counts).
    tab_chat_id = page.evaluate("() => sessionStorage.getItem('chat-id')")
    assert tab_chat_id
    chat.ask("Hi! What can you do?")
    assert chat.user_messages() == [CANCEL, "Approve", "Hi! What can you do?"]
    assert page.evaluate("() => sessionStorage.getItem('chat-id')") == tab_chat_id, "a new chat was started"
    assert not any("New chat" in n["title"] for n in page.evaluate(JS_NOTES))
    assert not page.locator("#chat-id textarea, #chat-id input").first.is_visible()
    page.get_by_text("Developer: chat id and API").click()
    assert page.locator("#chat-id textarea, #chat-id input").first.input_value()
    assert executions.count == 1


def test_a_pasted_chat_id_redraws_that_chat(start_app, new_context):
    executions = Executions()
    url = start_app(make_runtime(executions=executions))
    context, _ = new_context()
    first = context.new_page()
    chat = GradioChat(first, url)
    chat.send(CANCEL)
    wait_for_buttons(first)
    first.get_by_text("Developer: chat id and API").click()
    chat_id = first.locator("#chat-id textarea, #chat-id input").first.input_value()

    other_context, _ = new_context()  # another browser: nothing in its storage
    other = other_context.new_page()
    GradioChat(other, url)
    other.get_by_text("Developer: chat id and API").click()
    box = other.locator("#chat-id textarea, #chat-id input").first
    box.fill(chat_id)
    box.press("Enter")
    other.wait_for_function("() => document.querySelectorAll('[data-testid=user]').length === 1", timeout=20_000)
    wait_for_buttons(other)
    # Reject from the other browser.
    other.locator(".options button.option", has_text="Reject").click()
    other.wait_for_function(f"() => ({JS_LAST_ANSWER})().includes('nothing was cancelled')", timeout=20_000)
    assert executions.count == 0
