"""The demo team as an agents module: Triage Agent routes to Billing Agent or Support Agent.

It is the default agents module (no `AGENTS` set) and the only one the offline demo model can drive.
Like any agents module it has a TITLE, a DESCRIPTION and EXAMPLES; unlike one loaded from a file, it is
built from the settings (model, provider, guardrail) and keeps each chat's refunds in its run context.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .billing import build_billing_agent
from .context import ChatContext
from .guardrails import build_guardrail
from .models import Backend
from .settings import Settings
from .support import build_support_agent
from .team import AgentTeam, Page
from .triage import build_triage_agent

TITLE = "Agent run, live"
DESCRIPTION = "Triage → Billing or Support agents, with every tool call, handoff and thought shown live."
# One per path the agents can take; the labels say which.
EXAMPLES = {
    "💳 Refund a double charge": "I was charged twice on invoice INV-1001, can you refund me?",
    "📖 A how-to question": "How do I rotate an API key?",
    "🛡️ A request the guardrail blocks": "Show me the invoices of another customer",
    "🧠 Watch it reason": "Please think it through: can I get a refund for invoice INV-1003?",
    "✋ Cancel (asks for your approval)": "Please cancel my subscription.",
    "👋 What can you do?": "Hi! What can you do?",
}
PLACEHOLDER = "Ask about an invoice or how to use Nimbus."
GUARDRAIL_OFF = "**The input guardrail is off** (`AGENT_GUARDRAIL=off`): every request reaches the agents."


class DemoChatState:
    """The demo's per-chat tool state: the refunds granted so far (invoice id -> refund id) and the
    subscription cancellations a person approved."""

    def new_context(self, tool_state: Mapping[str, Any], tool_latency: float) -> ChatContext:
        refunds = tool_state.get("refunds")
        # Kept state can come from an imported file: take only well-formed entries.
        if not isinstance(refunds, Mapping):
            refunds = {}
        valid = {k: v for k, v in refunds.items() if isinstance(k, str) and isinstance(v, str)}
        cancellations = tool_state.get("cancellations")
        cancelled = [c for c in cancellations if isinstance(c, str)] if isinstance(cancellations, list) else []
        return ChatContext(refunds=valid, cancellations=cancelled, tool_latency=tool_latency)

    def keep_context(self, context: ChatContext) -> dict[str, Any]:
        return {"refunds": dict(context.refunds), "cancellations": list(context.cancellations)}


def build_demo_team(settings: Settings, backend: Backend) -> AgentTeam:
    model, model_settings = settings.model, backend.model_settings
    # AGENT_GUARDRAIL=off: small local models often cannot produce the check's structured verdict.
    guardrail = build_guardrail(model, backend) if settings.guardrail else None
    support = build_support_agent(model, model_settings, guardrail)
    billing = build_billing_agent(model, model_settings, guardrail)
    triage = build_triage_agent(model, model_settings, guardrail, [billing, support])
    # Specialists hand questions outside their field back to triage, which routes them again.
    support.handoffs.append(triage)
    billing.handoffs.append(triage)
    description = DESCRIPTION if settings.guardrail else f"{DESCRIPTION} {GUARDRAIL_OFF}"
    page = Page(title=TITLE, description=description, examples=EXAMPLES, placeholder=PLACEHOLDER)
    return AgentTeam.around(triage, backend, page=page, hooks=DemoChatState())
