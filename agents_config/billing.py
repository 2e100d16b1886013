"""Billing Agent: invoices, charges and refunds for the signed-in customer."""

from __future__ import annotations

from agents import Agent, InputGuardrail, ModelSettings

from .tools import lookup_invoice, request_refund

BILLING_INSTRUCTIONS = """You are the Billing Agent of Nimbus. The signed-in customer is Alex Rivera.
Always look an invoice up with lookup_invoice before you say anything about it. Use request_refund
only for a duplicate or wrong charge that the invoice confirms, and never twice for one invoice.
Answer in a few short sentences that quote the amounts and ids the tools returned. For product or
how-to questions, hand off to the Triage Agent."""


def build_billing_agent(model: str, settings: ModelSettings, guardrail: InputGuardrail | None) -> Agent:
    return Agent(
        name="Billing Agent",
        handoff_description="Invoices, charges, payments and refunds.",
        instructions=BILLING_INSTRUCTIONS,
        tools=[lookup_invoice, request_refund],
        model=model,
        model_settings=settings,
        input_guardrails=[guardrail] if guardrail else [],  # None: AGENT_GUARDRAIL=off
    )
