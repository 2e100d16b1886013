"""Run insight for reviewers: the agent graph, the last turn's stats and its trace timeline.

Pure functions from data to Markdown/HTML; the handler decides when to send them.
"""

from __future__ import annotations

import html
import re
from typing import Any

import gradio as gr

from agents_config import AgentTeam
from agents_config.graph import links, plain_tools, tool_label
from conversations.chat_state import TurnFigures
from streaming.tracing import TraceSpan

# Each kind of span: its bar colour and the plain words the legend and the rows use.
_KINDS = {
    "agent": ("#8250df", "Agent at work"),
    "generation": ("#0969da", "Model call"),
    "response": ("#0969da", "Model call"),
    "function": ("#1a7f37", "Tool"),
    "handoff": ("#bf8700", "Handoff"),
    "guardrail": ("#cf222e", "Safety check"),
}

# The graph's colours. Every node gets an explicit fill AND text colour: Mermaid's dark theme turns label
# text light, which vanished on the light fills used before. Dark text on light fills reads in both
# themes (each pair is over 10:1; tests/test_accessibility.py measures it in the browser).
GRAPH_STYLE = (
    "  classDef default fill:#eaeef2,stroke:#57606a,color:#1f2328",
    "  classDef tool fill:#dafbe1,stroke:#1a7f37,color:#0f2e17",
    "  classDef active fill:#ffd33d,stroke:#9a6700,stroke-width:3px,color:#1f2328",
)


def _node_id(name: str) -> str:
    return re.sub(r"\W+", "_", name).strip("_").lower() or "node"


def _label(text: str) -> str:
    """Text inside a quoted Mermaid label: a double quote would end it (Mermaid's own entity instead)."""
    return text.replace('"', "#quot;")


def agent_graph(team: AgentTeam, active: str | None = None) -> str:
    """A Mermaid flowchart (rendered by Gradio's Markdown) of agents, handoffs, agents used as tools,
    tools and MCP servers: every agent reachable from the start agent.

    Mermaid does the layout; the answering agent is highlighted.
    """
    lines = ["```mermaid", "flowchart LR"]
    agents = list(team.by_name.values())
    for agent in agents:
        lines.append(f'  {_node_id(agent.name)}["{_label(agent.name)}"]')
    tools: set[str] = set()
    for agent in agents:
        node = _node_id(agent.name)
        for link in links(agent):
            arrow = "-->|handoff|" if link.kind == "handoff" else f'-->|"as tool: {_label(link.label)}"|'
            lines.append(f"  {node} {arrow} {_node_id(link.target.name)}")
        for tool in plain_tools(agent):
            tool_id = f"tool_{_node_id(tool_label(tool))}"
            tools.add(tool_id)
            lines.append(f'  {tool_id}(["🛠️ {_label(tool_label(tool))}"])')
            lines.append(f"  {node} -.- {tool_id}")
        for server in agent.mcp_servers:
            server_id = f"tool_mcp_{_node_id(server.name)}"
            tools.add(server_id)
            lines.append(f'  {server_id}[("🔌 MCP: {_label(server.name)}")]')
            lines.append(f"  {node} -.- {server_id}")
    lines.extend(GRAPH_STYLE)
    if tools:
        lines.append(f"  class {','.join(sorted(tools))} tool")
    if active in team.by_name:
        lines.append(f"  class {_node_id(active)} active")
    lines.append("```")
    return "\n".join(lines)


def graph_caption(agent: str | None, state: str = "running") -> str:
    """Above the graph: who is answering now, who answered, who was answering when the turn was stopped, or who
    waits for a person's decision on a tool call."""
    if not agent:
        return "**Agents** (the one answering is highlighted)"
    name = html.escape(agent)
    return {
        "running": f"**Answering now:** {name}",
        "stopped": f"**Stopped** while {name} was answering",
        "waiting": f"**Waiting for your decision:** {name} asked to use a tool",
    }.get(state, f"**Answered by:** {name}")


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _per_second(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}"


def _cost(stats: TurnFigures, offline: bool) -> str:
    cost = stats.cost_usd
    if offline:
        return "free (offline demo)"
    return "n/a (unknown model price)" if cost is None else f"${cost:.4f}"


def stats_markdown(stats: TurnFigures | None, running: bool = False, offline: bool = False, heading: str | None = None) -> str:
    """The turn's figures as a compact two-column table: so far while it runs (or when stopped), complete at the end."""
    if stats is None:
        return ""
    at_end = "counted at the end"
    tokens = f"{stats.input_tokens:,} / {stats.output_tokens:,}"
    rows = [
        ("Time to first token", _seconds(stats.time_to_first_token_s)),
        ("Time so far" if running else "Total time", _seconds(stats.total_s)),
        ("Tokens in / out", at_end if running else tokens),
        ("Tokens per second", at_end if running else _per_second(stats.tokens_per_second)),
        ("Model calls", at_end if running else str(stats.model_calls)),
        ("Tool calls (their time)", f"{stats.tool_calls} ({_seconds(stats.tool_seconds)})"),
        ("Agents, in order", " → ".join(stats.agent_path) or "n/a"),
        ("Estimated cost", at_end if running and not offline else _cost(stats, offline)),
    ]
    table = "\n".join(f"| {name} | {html.escape(value)} |" for name, value in rows)
    heading = heading or ("This turn, so far" if running else "Last turn")
    return f"| {heading} | Value |\n|:--|--:|\n" + table


DASHBOARD_TRACE_URL = "https://platform.openai.com/traces/trace?trace_id="


def _plain_label(span: TraceSpan) -> str:
    """The span's label in plain words: 'tool · <name>' -> '<name>' (the colour says 'tool')."""
    label = span.label
    _, sep, detail = label.partition(" · ")
    detail = detail if sep else label
    if span.kind in ("generation", "response"):
        return f"Model call ({detail})" if sep else "Model call"
    if span.kind == "guardrail":
        return detail.replace(" (tripped)", ": blocked the message")
    return detail


def _legend(kinds: list[str]) -> str:
    seen: dict[str, str] = {}
    for kind in kinds:
        color, words = _KINDS.get(kind, ("#57606a", kind))
        seen.setdefault(words, color)
    items = "".join(f"<span class='tl-key'><i style='background:{c}'></i>{html.escape(w)}</span>" for w, c in seen.items())
    return f"<div class='tl-legend'>{items}</div>"


def _axis(end: float) -> str:
    """Four ticks under the bars: 0, a third, two thirds and the end of the turn, in seconds."""
    ticks = "".join(f"<span style='left:{100 * i / 3:.2f}%'>{end * i / 3:.2f} s</span>" for i in range(4))
    return f"<div class='tl-row tl-axis-row'><div class='tl-label'></div><div class='tl-axis'>{ticks}</div><div class='tl-time'></div></div>"


_TIMELINE_CSS = (
    "<style>.tl-row{display:flex;align-items:center;gap:.5em;font-size:13px;line-height:20px}"
    ".tl-label{width:42%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
    ".tl-track{position:relative;flex:1;height:10px;background:rgba(127,127,127,.15);border-radius:3px}"
    ".tl-bar{position:absolute;top:0;height:10px;border-radius:3px}.tl-time{width:4.5em;text-align:right}"
    ".tl-axis{position:relative;flex:1;height:1.4em;border-top:1px solid currentColor;font-size:11px}"
    ".tl-axis span{position:absolute;top:0;transform:translateX(-50%);white-space:nowrap}"
    ".tl-axis span:first-child{transform:none}.tl-axis span:last-child{transform:translateX(-100%)}"
    ".tl-legend{display:flex;flex-wrap:wrap;gap:.3em 1em;font-size:12px;margin:0 0 .5em}"
    ".tl-key i{display:inline-block;width:.9em;height:.9em;border-radius:2px;margin-right:.35em;vertical-align:-.1em}</style>"
)


def timeline_html(trace: list[TraceSpan], trace_id: str | None = None, uploaded: bool = False) -> str:
    """The turn's spans as horizontal bars on one time axis, with a legend (all text escaped), and the trace's id."""
    if not trace:
        return "<p>The trace of the next turn appears here when it ends.</p>"
    end = max(span.start_s + span.duration_s for span in trace) or 1e-9
    rows = []
    for span in trace:
        left = 100 * span.start_s / end
        width = max(0.6, 100 * span.duration_s / end)
        color, _ = _KINDS.get(span.kind, ("#57606a", ""))
        indent = "0" if span.kind == "agent" else "0.8em"
        label = html.escape(_plain_label(span)) + (" ⚠️" if span.failed else "")
        weight = "font-weight:600;" if span.kind == "agent" else ""
        rows.append(
            "<div class='tl-row'>"
            f"<div class='tl-label' style='{weight}padding-left:{indent}' title='{html.escape(span.label, quote=True)}'>{label}</div>"
            f"<div class='tl-track'><div class='tl-bar' style='left:{left:.2f}%;width:{width:.2f}%;background:{color}'></div></div>"
            f"<div class='tl-time'>{span.duration_s * 1000:.0f} ms</div>"
            "</div>"
        )
    footer = f"{len(trace)} steps over {end:.2f} s"
    if trace_id:
        safe_id = html.escape(trace_id, quote=True)
        footer += f" · trace id <code>{safe_id}</code>"
        if uploaded:  # a plain link: nothing is fetched unless the reviewer clicks it
            footer += f" · <a href='{DASHBOARD_TRACE_URL}{safe_id}' target='_blank' rel='noopener noreferrer'>open in the OpenAI dashboard</a>"
    legend = _legend([span.kind for span in trace])
    return (
        f"{_TIMELINE_CSS}{legend}<div class='timeline' data-spans='{len(trace)}'>{''.join(rows)}{_axis(end)}</div>"
        f"<p style='font-size:12px'>{footer}</p>"
    )


class InsightPanel:
    """The run-insight column: who answers (graph, answering agent highlighted), the figures and the timeline."""

    def __init__(self, team: AgentTeam, uploads_traces: bool = False):
        self.team = team
        self.uploads_traces = uploads_traces
        self.offline = bool(getattr(team.backend, "offline", False))
        gr.Markdown("## Run insight", elem_id="insight-title")
        # The caption is its own component: the graph is redrawn only when the highlight moves, so Mermaid
        # does not re-render (and flash its source) on every update.
        self.caption = gr.Markdown(graph_caption(None), elem_id="agent-now")
        self.graph = gr.Markdown(agent_graph(team), elem_id="agent-graph")
        self.stats = gr.Markdown("", elem_id="turn-stats")
        with gr.Accordion("Timeline of the turn (from the SDK's trace)", open=True):
            self.timeline = gr.HTML(timeline_html([]), elem_id="trace-timeline")
        # The agent highlighted in the graph as drawn: an update that may have been skipped cannot leave it stale.
        self.highlighted = gr.State(None)
        self.inputs = [self.highlighted]
        self.outputs = [self.caption, self.graph, self.stats, self.timeline, self.highlighted]

    def render(self, insight: dict[str, Any], highlighted: str | None = None):
        """The panel for `insight` (see ui/chat_handler._insight); `highlighted`: the agent the graph shows now."""
        if not insight:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        agent = insight.get("agent")
        state = "stopped" if insight.get("stopped") else "running" if insight.get("running") else "done"
        caption = graph_caption(agent, "waiting" if insight.get("waiting") and state == "done" else state)
        graph = agent_graph(self.team, agent) if agent != highlighted else gr.skip()
        heading = "This turn, until stopped" if state == "stopped" else None
        stats = stats_markdown(insight.get("stats"), running=state != "done", offline=self.offline, heading=heading)
        # A running turn has no trace yet: the timeline keeps showing the last one until this one ends.
        timeline = gr.skip()
        if "trace" in insight:
            timeline = timeline_html(insight["trace"] or [], insight.get("trace_id"), self.uploads_traces)
        if insight.get("waiting") and state == "done":  # the run stopped on a call that needs a person's decision
            names = ", ".join(f"`{name}`" for name in insight["waiting"])
            stats = f"⏳ **Waiting for a decision** on {names}: approve or reject it in the chat.\n\n{stats}"
        return caption, graph, stats, timeline, agent
