"""Billing Agent: invoices, charges and refunds for the signed-in customer."""

from __future__ import annotations

from agents import Agent, InputGuardrail, ModelSettings

from .tools import cancel_subscription, lookup_invoice, request_refund

BILLING_INSTRUCTIONS = """You are the Billing Agent of Nimbus. The signed-in customer is Alex Rivera.
Always look an invoice up with lookup_invoice before you say anything about it. Use request_refund
only for a duplicate or wrong charge that the invoice confirms, and never twice for one invoice.
Use cancel_subscription only when the customer asks to cancel; a person approves it before it runs,
and if it is refused, say that nothing was cancelled.
Answer in a few short sentences that quote the amounts and ids the tools returned. For product or
how-to questions, hand off to the Triage Agent."""


def build_billing_agent(model: str, settings: ModelSettings, guardrail: InputGuardrail | None) -> Agent:
    return Agent(
        name="Billing Agent",
        handoff_description="Invoices, charges, payments, refunds and cancelling the subscription.",
        instructions=BILLING_INSTRUCTIONS,
        tools=[lookup_invoice, request_refund, cancel_subscription],
        model=model,
        model_settings=settings,
        input_guardrails=[guardrail] if guardrail else [],  # None: AGENT_GUARDRAIL=off
    )
