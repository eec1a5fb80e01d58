"""Conversations kept server-side between requests: id -> dialogue state, bounded.

A conversation holds only its dialogue state (a few turns of entity ids), but a client
can open any number, so the store is capped (``max_size``) and drops conversations idle
longer than ``ttl`` seconds; expired ones go first when a new one needs room, and a
store full of live ones refuses a new one (429) instead of evicting a conversation
someone is still having. Ids are 128-bit random (``secrets.token_urlsafe``): knowing
one's own id says nothing about another's.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kgagent.serve.errors import ServeError
from kgagent.types import Answer

__all__ = ["ConversationStore"]


@dataclass
class _Entry:
    conversation: Any
    used: float
    busy: int = 0  # turns being asked now: never expired under them
    lock: threading.Lock = field(default_factory=threading.Lock)


class ConversationStore:
    """Thread-safe conversations by id.

    Args:
        factory: makes a new conversation (``target.conversation``).
        max_size: conversations kept at once.
        ttl: seconds a conversation may stay idle.
        clock: monotonic seconds (a test passes a fake).
    """

    def __init__(
        self,
        factory: Callable[[], Any],
        *,
        max_size: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.factory = factory
        self.max_size = int(max_size)
        self.ttl = float(ttl)
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        """Live conversations (the expired are dropped first)."""
        with self._lock:
            self._expire(self.clock())
            return len(self._entries)

    def _expire(self, now: float) -> None:
        dead = [cid for cid, e in self._entries.items()
                if e.busy == 0 and now - e.used > self.ttl]  # fmt: skip
        for cid in dead:
            del self._entries[cid]

    def create(self) -> str:
        """A new conversation's id; 429 when ``max_size`` live ones are kept."""
        with self._lock:
            now = self.clock()
            self._expire(now)
            if len(self._entries) >= self.max_size:
                idle = [e.used for e in self._entries.values() if e.busy == 0]
                wait = min(idle) + self.ttl - now if idle else self.ttl
                raise ServeError(
                    f"too many conversations: {self.max_size} are open (each is dropped "
                    f"after {self.ttl:g} s idle, or by DELETE)",
                    status=429,
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},  # the first expiry
                )
            cid = secrets.token_urlsafe(16)
            self._entries[cid] = _Entry(self.factory(), now)  # a state object: cheap
            return cid

    def _entry(self, cid: str) -> _Entry:
        """The live entry of ``cid`` (404 for an unknown or expired id)."""
        now = self.clock()
        entry = self._entries.get(cid)
        if entry is not None and entry.busy == 0 and now - entry.used > self.ttl:
            del self._entries[cid]
            entry = None
        if entry is None:
            raise ServeError(f"conversation {cid!r}: unknown, deleted or expired",
                             status=404, field="id")  # fmt: skip
        return entry

    def ask(self, cid: str, question: str) -> tuple[Answer, int]:
        """Asks the next turn of ``cid``: (the answer, its 0-based turn number). Turns
        of one conversation are asked one at a time, each against the ones before."""
        with self._lock:
            entry = self._entry(cid)
            entry.busy += 1
            entry.used = self.clock()
        try:
            with entry.lock:
                answer = entry.conversation.ask(question)
                turn = entry.conversation.state.count - 1
        finally:
            with self._lock:
                entry.busy -= 1
                entry.used = self.clock()
        return answer, turn

    def turns(self, cid: str) -> list[Any]:
        """The turns ``cid`` keeps (a copy: a turn may be added meanwhile)."""
        with self._lock:
            entry = self._entry(cid)
            entry.used = self.clock()
            return list(entry.conversation.state.turns)

    def delete(self, cid: str) -> None:
        with self._lock:
            self._entry(cid)
            del self._entries[cid]
