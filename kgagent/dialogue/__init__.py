"""Conversations: follow-up questions resolved against a dialogue state (issue 21).

``agent.conversation()`` returns a :class:`Conversation`; its ``ask`` reads each question
against the turns before it (:mod:`kgagent.dialogue.conversation`), and its state
(:class:`DialogueState`) is bounded and round-trips through JSON.
"""

from __future__ import annotations

from kgagent.dialogue.conversation import Conversation, Reading
from kgagent.dialogue.state import DialogueState, StateError, Turn

__all__ = ["Conversation", "DialogueState", "Reading", "StateError", "Turn"]
