"""The small built-in world the demo agents work on: product docs and one customer's invoices.

Everything here is fictional. "Nimbus" is a made-up cloud notebook product; the signed-in demo
customer is Alex Rivera (customer CUS-1). Invoice INV-2001 belongs to someone else, so the app can
show what happens when a user asks for data that is not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

CURRENT_CUSTOMER_ID = "CUS-1"


@dataclass(frozen=True)
class DocArticle:
    slug: str
    title: str
    body: str


@dataclass(frozen=True)
class Invoice:
    invoice_id: str
    customer_id: str
    date: str
    description: str
    amount_cents: int
    status: str  # "paid" | "open"
    charges: int = 1  # how many times the card was charged for it
    currency: str = "USD"


DOCS: tuple[DocArticle, ...] = (
    DocArticle(
        "reset-password",
        "Reset your password",
        "Open the sign-in page and choose 'Forgot password'. Nimbus emails a reset link that is valid "
        "for 30 minutes. If you use single sign-on, reset the password with your identity provider "
        "instead; Nimbus never stores it.",
    ),
    DocArticle(
        "api-keys",
        "Create and rotate API keys",
        "Go to Settings, then API keys, and choose 'New key'. A key is shown once, so store it in a "
        "secret manager. Rotate a key by creating a new one, deploying it, then revoking the old key; "
        "revoked keys stop working within one minute.",
    ),
    DocArticle(
        "rate-limits",
        "Rate limits",
        "The API allows 600 requests per minute per workspace on the Pro plan and 60 on the Free plan. "
        "Over the limit the API answers HTTP 429 with a Retry-After header; wait that many seconds and "
        "retry with exponential backoff.",
    ),
    DocArticle(
        "webhooks",
        "Webhooks",
        "Add an endpoint under Settings, then Webhooks. Nimbus signs each delivery with an "
        "X-Nimbus-Signature header (HMAC-SHA256 of the body with your endpoint secret). Failed "
        "deliveries are retried for 24 hours with backoff.",
    ),
    DocArticle(
        "export-data",
        "Export your notebooks",
        "Choose File, then Export workspace, to download every notebook as a ZIP of Markdown and "
        "JSON files. Large workspaces are prepared in the background and you get an email with a "
        "download link that is valid for 7 days.",
    ),
    DocArticle(
        "sso",
        "Single sign-on (SAML and OIDC)",
        "Single sign-on is available on the Business plan. Under Settings, then Security, add your "
        "identity provider's metadata URL, test the connection, then enforce SSO for all members.",
    ),
    DocArticle(
        "billing-cycle",
        "Billing cycle and invoices",
        "Plans renew monthly or yearly on the day you subscribed. Invoices are issued on renewal and "
        "are listed under Settings, then Billing. A duplicate charge is refunded in full within 5 to "
        "10 business days once support confirms it.",
    ),
    DocArticle(
        "delete-account",
        "Delete your account",
        "The workspace owner can delete the workspace under Settings, then Danger zone. Data is kept "
        "for 30 days in case you change your mind, then erased for good, backups included.",
    ),
    DocArticle(
        "offline-mode",
        "Work offline",
        "The desktop app keeps recently opened notebooks on your computer. Edits made offline sync "
        "when you reconnect; if the same cell changed on both sides you are asked which to keep.",
    ),
)

INVOICES: tuple[Invoice, ...] = (
    Invoice("INV-1001", "CUS-1", "2026-11-03", "Nimbus Pro, monthly (November)", 4900, "paid", charges=2),
    Invoice("INV-1002", "CUS-1", "2026-10-03", "Nimbus Pro, monthly (October)", 4900, "paid"),
    Invoice("INV-1003", "CUS-1", "2026-12-03", "Nimbus Pro, monthly (December)", 4900, "open", charges=0),
    Invoice("INV-2001", "CUS-2", "2026-11-05", "Nimbus Business, yearly", 99000, "paid"),
)
INVOICES_BY_ID = {invoice.invoice_id: invoice for invoice in INVOICES}


def money(cents: int, currency: str = "USD") -> str:
    return f"${cents / 100:,.2f}" if currency == "USD" else f"{cents / 100:,.2f} {currency}"
