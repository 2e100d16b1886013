"""The chat's Chatbot takes text only: a value a browser sends with any other part is refused.

A Chatbot value can carry file and component parts, and Gradio copies a file part's file into its
cache and serves it back. This chat takes text, so every event whose input is the chatbot (Stop,
export, retry, undo, ...) refuses any part that is not text before a handler sees it.
"""

from __future__ import annotations

import gradio as gr
from gradio.components.chatbot import ChatbotDataMessages, TextMessage

NOT_TEXT = "This chat takes text only: a message with a file or a component was refused."


def text_only(chatbot: gr.Chatbot) -> gr.Chatbot:
    """`chatbot`, refusing non-text parts in what it receives.

    Wrapped on the instance rather than subclassed: Gradio writes a `.pyi` stub next to the source
    of every Component subclass when it is defined.
    """
    preprocess = chatbot.preprocess

    def checked(payload: ChatbotDataMessages | None):
        for message in payload.root if payload is not None else []:
            if not all(isinstance(part, TextMessage) for part in message.content):
                raise gr.Error(NOT_TEXT, print_exception=False)
        return preprocess(payload)

    chatbot.preprocess = checked  # type: ignore[method-assign]
    return chatbot
