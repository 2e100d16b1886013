"""The demo tools, invoked the way the SDK invokes them (JSON arguments, a ToolContext)."""

from __future__ import annotations

import json

import pytest
from agents.tool_context import ToolContext

from agents_config.context import ChatContext
from agents_config.tools import lookup_invoice, request_refund, search_docs


async def call(tool, context: ChatContext, **arguments) -> str:
    """Run a function tool through its SDK entry point, as the Runner does."""
    raw = json.dumps(arguments)
    ctx = ToolContext(context, tool_name=tool.name, tool_call_id="call_test", tool_arguments=raw)
    return str(await tool.on_invoke_tool(ctx, raw))


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("rotate api key", "api-keys"),
        ("I forgot my password", "reset-password"),
        ("what happens on HTTP 429 rate limits", "rate-limits"),
        ("verify webhook signatures", "webhooks"),
        ("export notebooks as zip", "export-data"),
        ("saml single sign-on", "sso"),
        ("edits while offline", "offline-mode"),
    ],
)
async def test_search_docs_ranks_the_matching_article_first(query, slug):
    output = await call(search_docs, ChatContext(), query=query)
    assert output.startswith(f"[{slug}]"), output[:80]


async def test_search_docs_says_so_when_nothing_matches():
    output = await call(search_docs, ChatContext(), query="quantum teleportation")
    assert output.startswith("No documentation article")


async def test_lookup_own_invoice_reports_amount_and_duplicate_charge():
    output = await call(lookup_invoice, ChatContext(), invoice_id="inv-1001")
    assert "INV-1001" in output and "$49.00" in output
    assert "duplicate charge" in output


async def test_lookup_other_customers_invoice_is_refused_without_its_data():
    output = await call(lookup_invoice, ChatContext(), invoice_id="INV-2001")
    assert "belongs to another customer" in output
    assert "990" not in output and "Business" not in output


async def test_lookup_unknown_invoice_says_it_does_not_exist():
    output = await call(lookup_invoice, ChatContext(), invoice_id="INV-9999")
    assert "no invoice" in output.lower()


async def test_refund_is_granted_once_then_refused():
    context = ChatContext()
    first = await call(request_refund, context, invoice_id="INV-1001", reason="charged twice")
    assert first.startswith("Refund RF-1001")
    assert "granted" in first
    second = await call(request_refund, context, invoice_id="INV-1001", reason="charged twice")
    assert second.startswith("Refund refused") and "already refunded" in second
    assert list(context.refunds) == ["INV-1001"]
    # The lookup now mentions the refund, so the model never offers it again.
    assert "already granted" in await call(lookup_invoice, context, invoice_id="INV-1001")


async def test_refund_refused_for_open_invoice():
    context = ChatContext()
    output = await call(request_refund, context, invoice_id="INV-1003", reason="wrong charge")
    assert output.startswith("Refund refused") and "not been paid" in output
    assert context.refunds == {}


async def test_refund_refused_for_another_customers_invoice():
    context = ChatContext()
    output = await call(request_refund, context, invoice_id="INV-2001", reason="please")
    assert output.startswith("Refund refused") and "another customer" in output
    assert context.refunds == {}


async def test_refunds_of_one_conversation_do_not_affect_another():
    await call(request_refund, ChatContext(), invoice_id="INV-1001", reason="dup")
    fresh = await call(request_refund, ChatContext(), invoice_id="INV-1001", reason="dup")
    assert "granted" in fresh
