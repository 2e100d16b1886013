"""A first end-to-end check: the billing question through gradio_client against a launched app."""

from gradio_client import Client


def test_billing_question_streams_through_gradio_client(live_app):
    client = Client(live_app, verbose=False)
    job = client.submit("I was charged twice on invoice INV-1001, can you refund me?", api_name="/chat")
    updates = [list(update) if isinstance(update, (list, tuple)) else update for update in job]
    final = job.result()
    titles = [m["metadata"].get("title", "") for m in final if m.get("metadata")]
    assert any("lookup_invoice" in t for t in titles)
    assert any("Billing Agent" in t for t in titles)
    assert "RF-1001" in final[-1]["content"]
    assert len(updates) >= 5
