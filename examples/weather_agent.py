"""One agent, three function tools and an output guardrail: the smallest "your own agents" module.

    OPENAI_API_KEY=sk-... python app.py --agents examples/weather_agent.py

The weather is made up (no network), so the example runs anywhere; swap in a real API to make it useful.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from agents import Agent, GuardrailFunctionOutput, RunContextWrapper, function_tool, output_guardrail

TITLE = "Weather desk"
DESCRIPTION = "One agent with three function tools (weather, unit conversion, local time) and an output guardrail."
EXAMPLES = [
    "What's the weather in Lisbon, in Fahrenheit?",
    "What time is it in Tokyo?",
    "Is it warmer in Oslo or in Cairo right now?",
]

_CITIES = {  # city -> (temperature °C, sky, UTC offset in hours)
    "lisbon": (21.0, "sunny", 0), "tokyo": (17.5, "light rain", 9), "oslo": (4.0, "overcast", 1),
    "cairo": (29.0, "clear", 2), "paris": (15.0, "cloudy", 1), "new york": (12.0, "windy", -5),
}


def _city(name: str) -> tuple[float, str, int] | None:
    return _CITIES.get(name.strip().lower())


@function_tool
def get_weather(city: str) -> str:
    """The current weather in a city, in degrees Celsius.

    Args:
        city: The city's name, for example "Lisbon".
    """
    found = _city(city)
    if found is None:
        return f"No weather for {city!r}; known cities: {', '.join(c.title() for c in _CITIES)}."
    celsius, sky, _ = found
    return f"{city.strip().title()}: {celsius:g} °C, {sky}."


@function_tool
def celsius_to_fahrenheit(celsius: float) -> str:
    """Convert a temperature from degrees Celsius to degrees Fahrenheit.

    Args:
        celsius: The temperature in °C.
    """
    return f"{celsius:g} °C is {celsius * 9 / 5 + 32:.1f} °F."


@function_tool
def local_time(city: str) -> str:
    """The local time in a city.

    Args:
        city: The city's name.
    """
    found = _city(city)
    if found is None:
        return f"No time zone known for {city!r}."
    now = datetime.now(timezone.utc) + timedelta(hours=found[2])
    return f"It is {now:%H:%M} in {city.strip().title()}."


_SECRET = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")


@output_guardrail(name="No secrets in answers")
async def no_secrets(ctx: RunContextWrapper, agent: Agent, output: str) -> GuardrailFunctionOutput:
    """Blocks an answer that quotes something shaped like an API key (a model can be talked into it)."""
    leaked = bool(_SECRET.search(str(output)))
    reason = "The answer contained something that looks like an API key." if leaked else "No secret found."
    return GuardrailFunctionOutput(output_info={"reason": reason}, tripwire_triggered=leaked)


agent = Agent(
    name="Weather Agent",
    instructions=(
        "You answer questions about the weather and the local time in cities. Always use the tools; "
        "convert to Fahrenheit with celsius_to_fahrenheit when asked. Answer in one or two sentences."
    ),
    tools=[get_weather, celsius_to_fahrenheit, local_time],
    output_guardrails=[no_secrets],
)
