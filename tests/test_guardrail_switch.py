"""AGENT_GUARDRAIL=off, and a guardrail whose own check fails: a note that says so, not "malformed answer"."""

from __future__ import annotations

from agents.testing import ScriptedModel, assistant_message

from agents_config import Backend, Settings, build_team
from conversations import open_store
from devtools.server import offline_settings
from streaming.errors import MALFORMED
from streaming.events import Done, Error, TextDelta
from streaming.turn import run_turn
from tests.test_turn import OneModelProvider


def _demo_team(model, **settings):
    backend = Backend(label="scripted", provider=OneModelProvider(model))  # not offline: a "real" small model
    return build_team(offline_settings(force_offline=False, openai_base_url="http://127.0.0.1:9/v1", **settings),
                      backend=backend)


async def _turn(team, message):
    store = open_store(":memory:", 3600)
    try:
        conversation = await store.create()
        return [e async for e in run_turn(team, store, conversation, message)]
    finally:
        await store.close()


def test_the_setting_reads_on_and_off():
    assert Settings.from_env({}).guardrail is True
    assert Settings.from_env({"AGENT_GUARDRAIL": "off"}).guardrail is False


async def test_a_guardrail_check_without_a_verdict_is_named_as_such():
    # The guardrail's check runs first and gets prose instead of its JSON verdict, as small models do.
    model = ScriptedModel([[assistant_message("Sure! The message looks fine to me.")]])
    events = await _turn(_demo_team(model), "How do I rotate an API key?")
    (error,) = [e for e in events if isinstance(e, Error)]
    assert "The guardrail “Customer data guard” could not check this message" in error.message
    assert "AGENT_GUARDRAIL=off" in error.message and error.message != MALFORMED
    assert isinstance(events[-1], Done)


async def test_with_the_guardrail_off_no_check_runs_and_the_header_says_so():
    model = ScriptedModel([[assistant_message("Hello! I route billing and how-to questions.")]])
    team = _demo_team(model, guardrail=False)
    assert all(not agent.input_guardrails for agent in team.by_name.values())
    assert "guardrail is off" in team.page.description and "AGENT_GUARDRAIL=off" in team.page.description
    events = await _turn(team, "Hi")
    assert "".join(e.content for e in events if isinstance(e, TextDelta)).startswith("Hello!")
    assert not [e for e in events if isinstance(e, Error)]
    model.assert_complete()  # one model call: the answer, no guardrail check
    assert "guardrail is off" not in _demo_team(ScriptedModel([])).page.description
