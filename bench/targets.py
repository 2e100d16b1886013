"""The targets of issue #9, checked against one run's medians."""

from __future__ import annotations


def targets_table(single, concurrent, memory, med) -> str:
    def cpu(rate, path, net=False):
        return med(single[rate, path].net if net else single[rate, path].cpu)

    def of(rate, path, name):
        return med(getattr(single[rate, path], name))

    floor, burst = "1,000/s", "burst"
    checks = [
        ("Gradio CPU/token at 1,000/s ≤ 1.4× floor", cpu(floor, "app Gradio") / cpu(floor, "floor"), "≤", 1.4, "×"),
        ("  … net of idle CPU", cpu(floor, "app Gradio", True) / cpu(floor, "floor", True), "≤", 1.4, "×"),
        ("Gradio CPU/token ≥ 3× less than naive (1,000/s)", cpu(floor, "naive Gradio") / cpu(floor, "app Gradio"), "≥", 3, "×"),
        ("Gradio CPU/token ≥ 5× less than naive (burst)", cpu(burst, "naive Gradio") / cpu(burst, "app Gradio"), "≥", 5, "×"),
        ("Gradio UI updates ≤ ~20/s", of(floor, "app Gradio", "rate"), "≤", 22, "/s"),
        ("Gradio bytes ≥ 20× fewer than naive (2,000 tokens)", of(floor, "naive Gradio", "bytes") / of(floor, "app Gradio", "bytes"), "≥", 20, "×"),
        ("Gradio first text ≤ 20 ms after upstream's first delta", 1000 * of(floor, "app Gradio", "ttft"), "≤", 20, " ms"),
        ("Gradio final text ≤ 60 ms after upstream's end", 1000 * of(floor, "app Gradio", "tail"), "≤", 60, " ms"),
        ("/chat/stream first text ≤ 20 ms after upstream's first delta", 1000 * of(floor, "app /chat/stream", "ttft"), "≤", 20, " ms"),
        ("/chat/stream final text ≤ 60 ms after upstream's end", 1000 * of(floor, "app /chat/stream", "tail"), "≤", 60, " ms"),
        ("/chat/stream bytes ≥ 4.5× fewer than one event per delta", of(floor, "naive SSE", "bytes") / of(floor, "app /chat/stream", "bytes"), "≥", 4.5, "×"),
        ("/chat/stream events ≥ 40× fewer than one per delta", of(floor, "naive SSE", "events") / of(floor, "app /chat/stream", "events"), "≥", 40, "×"),
        ("/chat/stream CPU/token ≤ 1.2× floor (1,000/s)", cpu(floor, "app /chat/stream") / cpu(floor, "floor"), "≤", 1.2, "×"),
        ("  … net of idle CPU", cpu(floor, "app /chat/stream", True) / cpu(floor, "floor", True), "≤", 1.2, "×"),
        ("20 chats, Gradio: p95 first text < 1 s", concurrent["app Gradio"]["ttft_p95"], "≤", 1.0, " s"),
        ("20 chats, Gradio: p95 completion ≤ 1.3× generation", concurrent["app Gradio"]["done_ratio"], "≤", 1.3, "×"),
        ("20 chats, /chat/stream: p95 first text < 1 s", concurrent["app /chat/stream"]["ttft_p95"], "≤", 1.0, " s"),
        ("20 chats, /chat/stream: p95 completion ≤ 1.3× generation", concurrent["app /chat/stream"]["done_ratio"], "≤", 1.3, "×"),
        ("100 stored + 20 active chats add < 100 MB RSS", (memory["active"] - memory["idle"]) / 2**20, "≤", 100, " MB"),
    ]
    lines = ["| target | measured | met |", "|---|---|---|"]
    for name, value, op, limit, unit in checks:
        met = value <= limit if op == "≤" else value >= limit
        lines.append(f"| {name} | {value:.2f}{unit} | {'yes' if met else '**no**'} |")
    return "\n".join(lines)
