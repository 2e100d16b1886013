"""Triage Agent: the first agent of every new conversation; routes to a specialist."""

from __future__ import annotations

from agents import Agent, InputGuardrail, ModelSettings
from agents.extensions.handoff_prompt import prompt_with_handoff_instructions

TRIAGE_INSTRUCTIONS = prompt_with_handoff_instructions(
    """You are the Triage Agent of Nimbus customer support. Hand billing questions (invoices,
charges, payments, refunds) to the Billing Agent and product or how-to questions to the Support
Agent. Answer greetings and questions about what you can do yourself, in one or two sentences."""
)


def build_triage_agent(
    model: str, settings: ModelSettings, guardrail: InputGuardrail | None, specialists: list[Agent]
) -> Agent:
    return Agent(
        name="Triage Agent",
        instructions=TRIAGE_INSTRUCTIONS,
        handoffs=list(specialists),
        model=model,
        model_settings=settings,
        input_guardrails=[guardrail] if guardrail else [],  # None: AGENT_GUARDRAIL=off
    )
