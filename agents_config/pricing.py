"""Known model prices, for the per-turn cost estimate (USD per million tokens: input, output).

Prices change: this is an estimate for reviewers, not a bill. Unknown models show "n/a".
"""

from __future__ import annotations

import re
from collections.abc import Iterable

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "offline-demo": (0.0, 0.0),
}


_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # "gpt-4.1-mini-2025-04-14" costs what "gpt-4.1-mini" does


def estimate_cost(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """USD for the tokens, or None when the model's price is not in the table."""
    price = PRICES_PER_MILLION.get(model) or PRICES_PER_MILLION.get(_SNAPSHOT.sub("", model))
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def estimate_turn_cost(models: Iterable[str | None], input_tokens: int, output_tokens: int) -> float | None:
    """USD for a turn whose model calls went to `models` (the models of the agents that ran).

    The SDK counts a turn's tokens together, not per model, so a turn that used two models with
    different prices (or any model not in the table, or an unnamed one) has no honest estimate: None.
    """
    names = set(models)
    if len(names) != 1:
        return None
    (name,) = names
    return None if name is None else estimate_cost(name, input_tokens, output_tokens)
