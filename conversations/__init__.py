"""Where conversations live between turns: the SDK's own session stores plus a little metadata."""

from .sql_store import StoreConfigError
from .store import Conversation, ConversationBusy, ConversationStore, StoreError, open_store

__all__ = ["Conversation", "ConversationBusy", "ConversationStore", "StoreConfigError", "StoreError", "open_store"]
