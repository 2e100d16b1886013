"""The agents of the demo and the model they run on. No UI code lives here."""

from __future__ import annotations

from dataclasses import dataclass

from agents import Agent

from .billing import build_billing_agent
from .guardrails import build_guardrail
from .models import Backend, build_backend
from .settings import ConfigError, Settings
from .support import build_support_agent
from .triage import build_triage_agent

__all__ = ["AgentTeam", "Backend", "ConfigError", "Settings", "build_team"]


@dataclass(frozen=True)
class AgentTeam:
    triage: Agent
    by_name: dict[str, Agent]
    backend: Backend

    def agent(self, name: str | None) -> Agent:
        """The agent a conversation continues with; the triage agent for a new or unknown name."""
        return self.by_name.get(name or "", self.triage)


def build_team(settings: Settings, backend: Backend | None = None) -> AgentTeam:
    backend = backend or build_backend(settings)
    model, model_settings = settings.model, backend.model_settings
    guardrail = build_guardrail(model, backend)
    support = build_support_agent(model, model_settings, guardrail)
    billing = build_billing_agent(model, model_settings, guardrail)
    triage = build_triage_agent(model, model_settings, guardrail, [billing, support])
    # Specialists hand questions outside their field back to triage, which routes them again.
    support.handoffs.append(triage)
    billing.handoffs.append(triage)
    agents = {a.name: a for a in (triage, billing, support)}
    return AgentTeam(triage=triage, by_name=agents, backend=backend)
