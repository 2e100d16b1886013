"""Every way a turn can fail, as one short message a person can act on.

Raw exception text is never shown: provider errors can quote part of the API key (an
`AuthenticationError` does) or carry a stack of internal detail.
"""

from __future__ import annotations

import logging

import openai
from agents import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    ModelBehaviorError,
    OutputGuardrailTripwireTriggered,
    UserError,
)

log = logging.getLogger(__name__)

STALLED = (
    "The model stopped sending anything for {seconds:g} s, so this turn was ended. "
    "Try again; if it keeps happening, the provider may be overloaded (AGENT_STALL_TIMEOUT sets the limit)."
)


def guardrail_message(exc: InputGuardrailTripwireTriggered | OutputGuardrailTripwireTriggered) -> tuple[str, str]:
    """The guardrail's name and its one-sentence reason, when it gave one."""
    result = exc.guardrail_result
    name = result.guardrail.get_name()
    reason = getattr(result.output.output_info, "reason", "") or "The request is not allowed."
    return name, f"Blocked: {reason}"


def describe(exc: BaseException) -> str:
    """A readable, secret-free sentence for an exception that ended a turn."""
    # Log type and a redacted class name only: the text may contain a key fragment.
    log.warning("turn failed: %s", type(exc).__name__)
    if isinstance(exc, MaxTurnsExceeded):
        return "The agents went back and forth too many times without an answer, so the turn was stopped. Try rephrasing."
    if isinstance(exc, openai.AuthenticationError):
        return "The model provider rejected the API key (401). Check OPENAI_API_KEY; the key itself is not shown here."
    if isinstance(exc, openai.PermissionDeniedError):
        return "The API key is not allowed to use this model (403). Check OPENAI_DEFAULT_MODEL and the key's project."
    if isinstance(exc, openai.NotFoundError):
        return "The provider does not know this model or endpoint (404). Check OPENAI_DEFAULT_MODEL and OPENAI_BASE_URL."
    if isinstance(exc, openai.RateLimitError):
        return "The model provider is rate limiting or out of quota (429). Wait a moment and try again."
    if isinstance(exc, openai.APITimeoutError):
        return "The model provider did not answer in time. Try again in a moment."
    if isinstance(exc, openai.APIConnectionError):
        return "Could not reach the model provider. Check the network and OPENAI_BASE_URL, then try again."
    if isinstance(exc, openai.APIStatusError):
        return f"The model provider answered with an error ({exc.status_code}). Try again in a moment."
    if isinstance(exc, openai.OpenAIError) and "credentials" in str(exc).lower():
        return "No API key is configured. Set OPENAI_API_KEY, or unset it to use the offline demo model."
    if isinstance(exc, ModelBehaviorError):
        return "The model's answer was cut off or malformed, so the turn was stopped. Try again."
    if isinstance(exc, UserError):
        return "The agent setup rejected this request. Start a new chat and try again."
    if isinstance(exc, (ConnectionError, OSError)):
        return "The connection to the model provider dropped. Try again."
    if isinstance(exc, TimeoutError):
        return "The model provider did not answer in time. Try again in a moment."
    return "Something went wrong while answering. Try again; if it keeps happening, start a new chat."
