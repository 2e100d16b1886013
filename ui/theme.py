"""How the page looks and answers the keyboard: the Gradio theme, the CSS, and a small script.

Passed to `gr.mount_gradio_app` (app.py). Everything here is presentation: no data flows through it.
Checked in both themes (`?__theme=dark`) and on a phone by tests/test_accessibility.py.
"""

from __future__ import annotations

import gradio as gr

# Gradio bundles Source Sans Pro in 400, 600 and 700, but its default theme declares only 400 and 600:
# bold text then fell back to another face. Declaring 700 makes **bold** use the same font.
THEME = gr.themes.Default(
    font=[gr.themes.LocalFont("Source Sans Pro", weights=(400, 600, 700)), "ui-sans-serif", "system-ui", "sans-serif"],
)

# The chat fills the screen height (a phone sees the message box on first load) up to 620 px on a desktop.
CHAT_HEIGHT = "clamp(300px, calc(100dvh - 290px), 620px)"

CSS = """
/* A visible focus ring on everything the keyboard reaches. */
.gradio-container :is(button, textarea, input, select, summary, a, [role=button], [tabindex]):focus-visible {
  outline: 3px solid #0969da !important; outline-offset: 2px;
}
.dark .gradio-container :is(button, textarea, input, select, summary, a, [role=button], [tabindex]):focus-visible {
  outline-color: #79c0ff !important;
}

/* The agent named above its answer (ui/chat_view.agent_header): small, but at body-text contrast. */
.message-content h6:first-child {
  font-size: .8rem; font-weight: 700; margin: 0 0 .35em; color: var(--body-text-color); letter-spacing: .02em;
}

/* Tool arguments and results wrap instead of being cut off (on a phone too). */
#chatbot pre, #chatbot code { white-space: pre-wrap !important; overflow-wrap: anywhere; }

[role=button] button[disabled] { pointer-events: none; opacity: 1 !important; cursor: inherit; }

/* Gradio's pale footer and help texts, at a readable contrast (axe: color-contrast). */
footer :is(a, button), footer :is(a, button) *, .gradio-container .info-text { color: var(--body-text-color) !important; }

/* Notes' subdued durations, at a readable contrast in both themes. */
#chatbot .thought-group .title .duration, #chatbot .thought-group .title .log { color: var(--body-text-color) !important; opacity: .85; }

/* While a turn streams, the newest answer has no rating toolbar yet, and the "•••" waiting bubble goes once
   the answer has started. HEAD's script sets these classes (Gradio drops custom rules that use :has()). */
body.turn-streaming #chatbot .newest-answer-tools,
body.turn-streaming.answer-started #chatbot .message.bot.pending { display: none !important; }

/* Run insight: the stats table with thin theme-coloured borders, Mermaid's source never shown raw. */
#turn-stats table { border-collapse: collapse; width: 100%; font-size: 14px; }
#turn-stats :is(th, td) { border: 1px solid var(--border-color-primary) !important; padding: .3em .6em; }
#turn-stats td:last-child { text-align: right; }
#agent-graph { min-height: 230px; }
/* The node's text takes the colour its classDef gives (ui/insights.GRAPH_STYLE), not the page's prose colour. */
#agent-graph svg :is(.nodeLabel, .label) p { color: inherit !important; }
/* Edge labels: the page's own text on the page's background, in either theme. */
#agent-graph svg .edgeLabel, #agent-graph svg .edgeLabel :is(p, span) {
  background-color: var(--background-fill-primary) !important; color: var(--body-text-color) !important;
}
#agent-graph svg .edgeLabel rect { fill: var(--background-fill-primary) !important; }
#agent-graph .mermaid:not([data-processed]) { visibility: hidden; }

/* Record & replay: the bundled recordings as a row of buttons. */
#bundled-replays { flex-wrap: wrap; gap: .5em; }
"""

# Keyboard and screen-reader fixes to Gradio's own controls, applied whenever Gradio re-renders them.
HEAD = """
<script>
(() => {
  const NAMES = [
    ['[data-testid=stop-button]', 'Stop the answer'],
    ['#chat-input button.submit-button, #chat-input [data-testid=submit-button]', 'Send the message'],
    ['#chatbot .top-panel button', 'Share this conversation'],  // the only one Gradio leaves unnamed
  ];
  function nameControls() {
    for (const [selector, name] of NAMES) {
      for (const el of document.querySelectorAll(selector)) {
        if (!el.getAttribute('aria-label')) el.setAttribute('aria-label', el.getAttribute('title') || name);
      }
    }
    // Icon buttons Gradio leaves unnamed: name them from their title, or their neighbouring label.
    for (const el of document.querySelectorAll('button.icon-button:not([aria-label]), button.icon-button[aria-label=""]')) {
      const label = el.getAttribute('title') || el.closest('[role=button]')?.textContent.trim();
      if (label) el.setAttribute('aria-label', label);
    }
    // Fields whose <label> also wraps a Copy button: name them by their label text alone.
    for (const field of document.querySelectorAll('label :is(input, textarea):not([aria-label])')) {
      const info = field.closest('label').querySelector('[data-testid=block-info]');
      if (info && info.textContent.trim()) field.setAttribute('aria-label', info.textContent.trim());
    }
    // A note's title is itself a button: the arrow inside it must not be a second, nested one. Disabled, it
    // is neither focusable nor announced; clicks go through it to the title (CSS: pointer-events none).
    for (const el of document.querySelectorAll('[role=button] button:not([disabled])')) {
      el.disabled = true;
      el.setAttribute('tabindex', '-1');
      el.setAttribute('aria-hidden', 'true');
    }
  }
  // Focus stays in the message box: Gradio disables it while a turn runs, which drops the focus.
  let refocus = false;
  function watchTextbox() {
    const box = document.querySelector('#chat-input textarea');
    if (!box || box.dataset.focusWatch) return;
    box.dataset.focusWatch = '1';
    box.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) refocus = true; });
    new MutationObserver(() => {
      if (!box.disabled && refocus && (document.activeElement === document.body || !document.activeElement)) {
        refocus = false;
        box.focus();
      }
    }).observe(box, { attributes: true, attributeFilter: ['disabled'] });
  }
  // While a turn streams (live: the Stop button shows; a replay: the chat's status tracker is "generating").
  function markStreaming() {
    const streaming = !!document.querySelector('[data-testid=stop-button]') || !!document.querySelector('#chatbot .generating');
    document.body.classList.toggle('turn-streaming', streaming);
    const wrap = document.querySelector('#chatbot .message-wrap');
    if (!wrap) return;
    let newest = null;  // the bot toolbar after the last message row (other bits, like the "•••" bubble, may follow it)
    for (let el = wrap.lastElementChild; el && !el.classList.contains('message-row'); el = el.previousElementSibling) {
      if (el.classList.contains('message-buttons-left')) { newest = el; break; }
    }
    for (const el of wrap.querySelectorAll('.newest-answer-tools')) if (el !== newest) el.classList.remove('newest-answer-tools');
    if (newest && !newest.classList.contains('newest-answer-tools')) newest.classList.add('newest-answer-tools');  // no change, no mutation
    const rows = wrap.querySelectorAll('.message-row');
    document.body.classList.toggle('answer-started', rows.length > 0 && rows[rows.length - 1].classList.contains('bot-row'));
  }
  // Esc stops a running turn, like the Stop button.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    const stop = document.querySelector('[data-testid=stop-button]');
    if (stop) { e.preventDefault(); stop.click(); }
  });
  let queued = false;  // at most once a frame, however fast the chat streams
  new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; nameControls(); watchTextbox(); markStreaming(); });
  }).observe(document.documentElement, { childList: true, subtree: true, attributeFilter: ['class'] });
})();
</script>
"""
