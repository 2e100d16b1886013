"""Support Agent: answers product questions from the documentation."""

from __future__ import annotations

from agents import Agent, InputGuardrail, ModelSettings

from .tools import search_docs

SUPPORT_INSTRUCTIONS = """You are the Support Agent of Nimbus, a cloud notebook product.
Answer product and how-to questions using only what the search_docs tool returns: always search
first, then answer in a few short sentences or steps and name the article you used. If the docs do
not cover the question, say so. For invoices, charges and refunds, hand off to the Triage Agent."""


def build_support_agent(model: str, settings: ModelSettings, guardrail: InputGuardrail | None) -> Agent:
    return Agent(
        name="Support Agent",
        handoff_description="Product documentation and how-to questions.",
        instructions=SUPPORT_INSTRUCTIONS,
        tools=[search_docs],
        model=model,
        model_settings=settings,
        input_guardrails=[guardrail] if guardrail else [],  # None: AGENT_GUARDRAIL=off
    )
