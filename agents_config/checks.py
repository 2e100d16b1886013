"""An exception an agents module raises when one of its guardrails could not reach a verdict.

The SDK hands a guardrail's exception to the consumer of the stream without the traceback that would
say where it came from, so a failed check would read like a malformed *answer*. A guardrail that
raises `GuardrailCheckFailed` gets a note naming it and saying how to turn it off (streaming/errors.py).
"""

from __future__ import annotations


class GuardrailCheckFailed(Exception):
    def __init__(self, guardrail: str, how_to_turn_off: str = ""):
        super().__init__(f"The guardrail {guardrail!r} produced no verdict.")
        self.guardrail = guardrail
        self.how_to_turn_off = how_to_turn_off
