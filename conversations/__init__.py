"""Where conversations live between turns: the SDK's own session stores plus a little metadata."""

from .store import Conversation, ConversationBusy, ConversationStore, StoreError, open_store

__all__ = ["Conversation", "ConversationBusy", "ConversationStore", "StoreError", "open_store"]
