"""The agents' tools: documentation search for support; invoices, refunds and the subscription for billing."""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter

from agents import RunContextWrapper, function_tool

from .context import ChatContext
from .data import DOCS, INVOICES_BY_ID, DocArticle, money

_WORD = re.compile(r"[a-z0-9]+")
_STOPWORDS = frozenset(
    "a an and are can do does for from how i in is it my of on or the to what when where which "
    "who why with you your me we our this that be".split()
)


def _terms(text: str) -> list[str]:
    # A light stemmer (plural and -ing/-ed endings) is enough for a few hundred words of docs.
    terms = []
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        for suffix in ("ing", "ed", "es", "s"):
            if len(word) > len(suffix) + 2 and word.endswith(suffix):
                word = word[: -len(suffix)]
                break
        terms.append(word)
    return terms


class _DocIndex:
    """BM25 over titles (weighted double) and bodies of the built-in articles."""

    def __init__(self, docs: tuple[DocArticle, ...], k1: float = 1.2, b: float = 0.75):
        self.docs = docs
        self.k1, self.b = k1, b
        self.term_counts = [Counter(_terms(d.title) * 2 + _terms(d.body)) for d in docs]
        self.lengths = [sum(c.values()) for c in self.term_counts]
        self.avg_length = sum(self.lengths) / len(self.lengths)
        document_frequency = Counter(t for c in self.term_counts for t in c)
        n = len(docs)
        self.idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_frequency.items()}

    def search(self, query: str, limit: int = 3) -> list[tuple[float, DocArticle]]:
        scored = []
        for doc, counts, length in zip(self.docs, self.term_counts, self.lengths):
            score = 0.0
            for term in set(_terms(query)):
                tf = counts.get(term, 0)
                if tf:
                    norm = tf + self.k1 * (1 - self.b + self.b * length / self.avg_length)
                    score += self.idf[term] * tf * (self.k1 + 1) / norm
            if score > 0:
                scored.append((score, doc))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return scored[:limit]


DOC_INDEX = _DocIndex(DOCS)


async def _pretend_io(ctx: RunContextWrapper[ChatContext]) -> None:
    """Stand in for the database or search service a real tool would wait on."""
    if ctx.context.tool_latency > 0:
        await asyncio.sleep(ctx.context.tool_latency)


@function_tool
async def search_docs(ctx: RunContextWrapper[ChatContext], query: str) -> str:
    """Search the Nimbus product documentation.

    Args:
        query: What to look for, in a few words (for example "rotate api key").
    """
    await _pretend_io(ctx)
    hits = DOC_INDEX.search(query)
    if not hits:
        return f"No documentation article matches {query!r}."
    return "\n\n".join(f"[{doc.slug}] {doc.title}\n{doc.body}" for _, doc in hits)


def _invoice_for(ctx: ChatContext, invoice_id: str):
    invoice = INVOICES_BY_ID.get(invoice_id.strip().upper())
    if invoice is None:
        return None, f"There is no invoice {invoice_id!r}. Invoice numbers look like INV-1001."
    if invoice.customer_id != ctx.customer_id:
        return None, f"Invoice {invoice.invoice_id} belongs to another customer; it cannot be shown."
    return invoice, ""


@function_tool
async def lookup_invoice(ctx: RunContextWrapper[ChatContext], invoice_id: str) -> str:
    """Look up one of the signed-in customer's invoices.

    Args:
        invoice_id: The invoice number, for example "INV-1001".
    """
    await _pretend_io(ctx)
    invoice, problem = _invoice_for(ctx.context, invoice_id)
    if invoice is None:
        return problem
    lines = [
        f"Invoice {invoice.invoice_id} dated {invoice.date}: {invoice.description}, "
        f"{money(invoice.amount_cents, invoice.currency)}, status {invoice.status}.",
    ]
    if invoice.charges > 1:
        lines.append(
            f"The card was charged {invoice.charges} times for this invoice "
            f"({money(invoice.amount_cents * invoice.charges, invoice.currency)} in total): a duplicate charge."
        )
    if invoice.invoice_id in ctx.context.refunds:
        lines.append(f"Refund {ctx.context.refunds[invoice.invoice_id]} was already granted.")
    return " ".join(lines)


@function_tool
async def request_refund(ctx: RunContextWrapper[ChatContext], invoice_id: str, reason: str) -> str:
    """Refund a duplicate or wrong charge on one of the signed-in customer's invoices.

    Args:
        invoice_id: The invoice number, for example "INV-1001".
        reason: Why the customer asks for the refund, in one sentence.
    """
    await _pretend_io(ctx)
    invoice, problem = _invoice_for(ctx.context, invoice_id)
    if invoice is None:
        return f"Refund refused. {problem}"
    refunds = ctx.context.refunds
    if invoice.invoice_id in refunds:
        return f"Refund refused: {invoice.invoice_id} was already refunded ({refunds[invoice.invoice_id]})."
    if invoice.status != "paid" or invoice.charges < 1:
        return f"Refund refused: {invoice.invoice_id} has not been paid, so there is nothing to refund."
    refund_id = f"RF-{invoice.invoice_id[4:]}-{len(refunds) + 1:02d}"
    refunds[invoice.invoice_id] = refund_id
    amount = money(invoice.amount_cents, invoice.currency)
    return (
        f"Refund {refund_id} granted: {amount} for {invoice.invoice_id} ({reason.strip() or 'no reason given'}). "
        "It reaches the card in 5 to 10 business days."
    )


@function_tool(needs_approval=True)
async def cancel_subscription(ctx: RunContextWrapper[ChatContext], reason: str) -> str:
    """Cancel the signed-in customer's Nimbus subscription at the end of the billing period.

    A person approves each call before it runs (needs_approval): cancelling cannot be undone here.

    Args:
        reason: Why the customer wants to cancel, in one sentence.
    """
    await _pretend_io(ctx)
    if ctx.context.cancellations:
        return f"The subscription was already cancelled ({ctx.context.cancellations[-1]}); nothing changed."
    cancellation_id = f"CX-{len(ctx.context.cancellations) + 1:04d}"
    ctx.context.cancellations.append(cancellation_id)
    return (
        f"Subscription cancelled ({cancellation_id}): it stays active until the end of the current billing "
        f"period and is not renewed. Reason noted: {reason.strip() or 'none given'}."
    )
