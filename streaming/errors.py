"""Every way a turn can fail, as one short message a person can act on.

Raw exception text is never shown: provider errors can quote part of the API key (an
`AuthenticationError` does) or carry a stack of internal detail.
"""

from __future__ import annotations

import json
import logging
import socket

import openai
from agents import (
    InputGuardrailTripwireTriggered,
    MaxTurnsExceeded,
    ModelBehaviorError,
    OutputGuardrailTripwireTriggered,
    UserError,
)

from agents_config.checks import GuardrailCheckFailed
from conversations import StoreError

log = logging.getLogger(__name__)

TOOL_TOO_SLOW = "A tool ran for more than {seconds:g} s without finishing, so this turn was ended. Try again."
STALLED = (
    "The model stopped sending anything for {seconds:g} s, so this turn was ended. "
    "Try again; if it keeps happening, the provider may be overloaded (AGENT_STALL_TIMEOUT sets the limit)."
)


def guardrail_message(exc: InputGuardrailTripwireTriggered | OutputGuardrailTripwireTriggered) -> tuple[str, str]:
    """The guardrail's name and its one-sentence reason, when it gave one."""
    result = exc.guardrail_result
    name = result.guardrail.get_name()
    info = result.output.output_info
    reason = (info.get("reason") if isinstance(info, dict) else getattr(info, "reason", "")) or "The request is not allowed."
    return name, f"Blocked: {reason}"


WS_DROPPED = (
    "The WebSocket connection to the model provider closed in the middle of an answer. "
    "Try again; if it keeps happening, set AGENT_TRANSPORT=http."
)
WS_UNREACHABLE = (
    "Could not open the WebSocket to the model provider. Check OPENAI_BASE_URL and that the server is up "
    "and supports the Responses WebSocket transport, or set AGENT_TRANSPORT=http."
)
MALFORMED = "The model's answer was cut off or malformed, so the turn was stopped. Try again."


def _status_message(status: int | None) -> str:
    """What an HTTP status from the provider means for the user, whichever transport carried it."""
    if status == 401:
        return "The model provider rejected the API key (401). Check OPENAI_API_KEY; the key itself is not shown here."
    if status == 403:
        return "The API key is not allowed to use this model (403). Check OPENAI_DEFAULT_MODEL and the key's project."
    if status == 404:
        return "The provider does not know this model or endpoint (404). Check OPENAI_DEFAULT_MODEL and OPENAI_BASE_URL."
    if status == 429:
        return "The model provider is rate limiting or out of quota (429). Wait a moment and try again."
    return f"The model provider answered with an error ({status or 'unknown'}). Try again in a moment."


def _websocket_message(exc: BaseException) -> str | None:
    """The message for a failure of the Responses WebSocket transport, or None if it is not one.

    These errors come from the `websockets` package and the SDK's WebSocket model, not from `openai`,
    so they carry no `openai` exception type; their text (frames, headers) is never shown either.
    """
    try:  # `websockets` is only needed (and installed) for AGENT_TRANSPORT=websocket
        from agents.models.openai_responses import ResponsesWebSocketError
        from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
    except ImportError:
        return None

    if isinstance(exc, InvalidStatus):  # the upgrade was refused with an HTTP status
        status = exc.response.status_code
        if status in (401, 403, 429):
            return _status_message(status)
        return (f"The model provider refused the WebSocket connection ({status}); it may not support the "
                "Responses WebSocket transport. Set AGENT_TRANSPORT=http, or check OPENAI_BASE_URL.")
    if isinstance(exc, ResponsesWebSocketError):  # an `error` frame: same meaning as an HTTP error status
        status = exc.payload.get("status")
        if not isinstance(status, int):
            status = 429 if exc.code in ("rate_limit_exceeded", "insufficient_quota") else None
        return _status_message(status)
    if isinstance(exc, ConnectionClosed) or (
        isinstance(exc, RuntimeError) and str(exc).startswith("Responses websocket connection closed")
    ):
        return WS_DROPPED
    if isinstance(exc, WebSocketException):
        return WS_UNREACHABLE
    # `openai` wraps its own connection failures; a bare refused/unreachable socket is the WebSocket's.
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return WS_UNREACHABLE
    return None


GUARDRAIL_CHECK_FAILED = (
    "The guardrail “{name}” could not check this message: its own check did not return a verdict it could "
    "read (small models often cannot produce one). The message and the answer were not the problem. "
    "Try again or use a larger model{off}."
)


def describe(exc: BaseException) -> str:
    """A readable, secret-free sentence for an exception that ended a turn."""
    # Log type and a redacted class name only: the text may contain a key fragment.
    log.warning("turn failed: %s", type(exc).__name__)
    if isinstance(exc, StoreError):  # its message is written for people and safe to show
        return str(exc)
    if isinstance(exc, MaxTurnsExceeded):
        return "The agents went back and forth too many times without an answer, so the turn was stopped. Try rephrasing."
    if isinstance(exc, openai.APITimeoutError):
        return "The model provider did not answer in time. Try again in a moment."
    if isinstance(exc, openai.APIConnectionError):
        return "Could not reach the model provider. Check the network and OPENAI_BASE_URL, then try again."
    if isinstance(exc, openai.APIStatusError):
        return _status_message(exc.status_code)
    if isinstance(exc, openai.OpenAIError) and "credentials" in str(exc).lower():
        return "No API key is configured. Set OPENAI_API_KEY, or unset it to use the offline demo model."
    if isinstance(exc, GuardrailCheckFailed):  # the guardrail's check failed, not the answer
        off = f"; to turn this guardrail off, {exc.how_to_turn_off}" if exc.how_to_turn_off else ""
        return GUARDRAIL_CHECK_FAILED.format(name=exc.guardrail, off=off)
    if isinstance(exc, (ModelBehaviorError, json.JSONDecodeError)):
        return MALFORMED
    if isinstance(exc, UserError):
        return "The agent setup rejected this request. Start a new chat and try again."
    websocket = _websocket_message(exc)
    if websocket is not None:
        return websocket
    if isinstance(exc, (ConnectionError, OSError)):
        return "The connection to the model provider dropped. Try again."
    if isinstance(exc, TimeoutError):
        return "The model provider did not answer in time. Try again in a moment."
    return "Something went wrong while answering. Try again; if it keeps happening, start a new chat."
