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

_KIND_COLORS = {
    "agent": "#6e40c9",
    "generation": "#0969da",
    "response": "#0969da",
    "function": "#1a7f37",
    "handoff": "#bf8700",
    "guardrail": "#cf222e",
}


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
    lines.append("  classDef active fill:#ffe08a,stroke:#bf8700,stroke-width:3px")
    lines.append("  classDef tool fill:#eef6ee,stroke:#1a7f37")
    if tools:
        lines.append(f"  class {','.join(sorted(tools))} tool")
    if active in team.by_name:
        lines.append(f"  class {_node_id(active)} active")
    lines.append("```")
    caption = f"**Answering now:** {active}" if active else "**Agents** (the one answering is highlighted)"
    return caption + "\n\n" + "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def stats_markdown(stats: dict[str, Any]) -> str:
    """The last turn's figures as a compact two-column table."""
    if not stats:
        return ""
    cost = stats.get("cost_usd")
    rows = [
        ("Time to first token", _seconds(stats.get("time_to_first_token_s"))),
        ("Total time", _seconds(stats.get("total_s"))),
        ("Tokens in / out", f"{stats.get('input_tokens', 0):,} / {stats.get('output_tokens', 0):,}"),
        ("Tokens per second", "n/a" if stats.get("tokens_per_second") is None else f"{stats['tokens_per_second']:.0f}"),
        ("Model calls", str(stats.get("model_calls", 0))),
        ("Tool calls (time)", f"{stats.get('tool_calls', 0)} ({_seconds(stats.get('tool_seconds'))})"),
        ("Agent path", " → ".join(stats.get("agent_path", [])) or "n/a"),
        ("Estimated cost", "n/a" if cost is None else f"${cost:.4f}"),
    ]
    table = "\n".join(f"| {name} | {html.escape(value)} |" for name, value in rows)
    return "| Last turn | |\n|:--|--:|\n" + table


DASHBOARD_TRACE_URL = "https://platform.openai.com/traces/trace?trace_id="


def timeline_html(trace: list[dict[str, Any]], trace_id: str | None = None, uploaded: bool = False) -> str:
    """The turn's spans as horizontal bars on one time axis (all text escaped), and the trace's id."""
    if not trace:
        return "<p style='opacity:.7'>The trace of the next turn appears here.</p>"
    end = max(span["start_s"] + span["duration_s"] for span in trace) or 1e-9
    rows = []
    for span in trace:
        left = 100 * span["start_s"] / end
        width = max(0.6, 100 * span["duration_s"] / end)
        color = _KIND_COLORS.get(span["kind"], "#57606a")
        indent = "0" if span["kind"] == "agent" else "0.8em"
        label = html.escape(span["label"]) + (" ⚠️" if span.get("failed") else "")
        rows.append(
            "<div class='tl-row'>"
            f"<div class='tl-label' style='padding-left:{indent}' title='{label}'>{label}</div>"
            f"<div class='tl-track'><div class='tl-bar' style='left:{left:.2f}%;width:{width:.2f}%;background:{color}'></div></div>"
            f"<div class='tl-time'>{span['duration_s'] * 1000:.0f} ms</div>"
            "</div>"
        )
    style = (
        "<style>.tl-row{display:flex;align-items:center;gap:.5em;font-size:12px;line-height:18px}"
        ".tl-label{width:42%;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
        ".tl-track{position:relative;flex:1;height:10px;background:rgba(127,127,127,.12);border-radius:3px}"
        ".tl-bar{position:absolute;top:0;height:10px;border-radius:3px}.tl-time{width:4.5em;text-align:right;opacity:.8}</style>"
    )
    footer = f"Trace: {len(trace)} spans over {end:.2f} s"
    if trace_id:
        safe_id = html.escape(trace_id, quote=True)
        footer += f" · id <code>{safe_id}</code>"
        if uploaded:  # a plain link: nothing is fetched unless the reviewer clicks it
            footer += f" · <a href='{DASHBOARD_TRACE_URL}{safe_id}' target='_blank' rel='noopener noreferrer'>open in the OpenAI dashboard</a>"
    return f"{style}<div class='timeline' data-spans='{len(trace)}'>{''.join(rows)}</div><p style='font-size:12px;opacity:.7'>{footer}</p>"


class InsightPanel:
    """The run-insight column: the agent graph (answering agent highlighted), stats and timeline."""

    def __init__(self, team: AgentTeam, uploads_traces: bool = False):
        self.team = team
        self.uploads_traces = uploads_traces
        gr.Markdown("### Run insight")
        self.graph = gr.Markdown(agent_graph(team), elem_id="agent-graph")
        self.stats = gr.Markdown("", elem_id="turn-stats")
        with gr.Accordion("Trace timeline (the SDK's spans)", open=True):
            self.timeline = gr.HTML(timeline_html([]), elem_id="trace-timeline")
        self.outputs = [self.graph, self.stats, self.timeline]

    def render(self, insight: dict[str, Any]):
        if not insight:
            return gr.skip(), gr.skip(), gr.skip()
        graph = agent_graph(self.team, insight.get("agent"))
        if insight.get("running"):
            return graph, gr.skip(), gr.skip()
        timeline = timeline_html(insight.get("trace") or [], insight.get("trace_id"), self.uploads_traces)
        stats = stats_markdown(insight.get("stats") or {})
        if insight.get("waiting"):
            names = ", ".join(f"`{name}`" for name in insight["waiting"])
            stats = f"⏳ **Waiting for a decision** on {names}: approve or reject it in the chat.\n\n{stats}"
        return graph, stats, timeline if "trace" in insight else gr.skip()  # a redrawn chat has no trace
