"""The service's limits and options, one frozen value the CLI fills from its flags.

Kept apart from :class:`~kgagent.config.AgentConfig`: these are properties of one running
service (who may call it, how much it accepts), not of the agent a workspace holds.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from kgagent.errors import ConfigError

__all__ = ["STATIC_DIR", "ServeSettings", "api_key_from_env", "is_loopback"]

#: the web page's files (index.html and its assets), shipped with the package
STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True)
class ServeSettings:
    """Limits and options of one service (defaults: the contract's).

    Attributes:
        max_body: bytes a request body may have (413 beyond).
        max_batch: questions one ``/v1/ask_batch`` may carry (422 beyond).
        max_concurrency: asks in flight at once; one more waits for a slot.
        queue_wait: seconds an ask waits for a slot before it is answered 429 (a burst
            waits; sustained overload is refused, not queued until clients time out).
        retry_after: seconds a 429 tells the client to wait (``Retry-After``).
        conversations_max: conversations kept at once (429 when full of live ones).
        conversation_ttl: seconds a conversation may stay idle before it is dropped.
        query_rows: rows (or triples) ``/v1/query`` returns at most.
        entity_limit: facts ``/v1/entity`` returns at most, whatever ``limit`` asks.
        api_key: the key every ``/v1/*`` and ``/metrics`` request must present (None:
            open). Never logged or shown.
        static_dir: the web page's directory (``/`` serves its ``index.html``).
    """

    max_body: int = 65536
    max_batch: int = 64
    max_concurrency: int = 8
    queue_wait: float = 5.0
    retry_after: int = 1
    conversations_max: int = 1000
    conversation_ttl: float = 1800.0
    query_rows: int = 1000
    entity_limit: int = 500
    api_key: str | None = field(default=None, repr=False)
    static_dir: Path = STATIC_DIR

    def __post_init__(self) -> None:
        for name in ("max_body", "max_batch", "max_concurrency", "conversations_max",
                     "query_rows", "entity_limit"):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name}: expected a whole number of at least 1, got {value!r}")
        if not self.conversation_ttl > 0:
            ttl = self.conversation_ttl
            raise ConfigError(f"conversation_ttl: expected seconds > 0, got {ttl}")
        if not self.queue_wait >= 0:
            raise ConfigError(f"queue_wait: expected seconds >= 0, got {self.queue_wait}")
        if self.retry_after < 0:
            raise ConfigError(f"retry_after: expected seconds >= 0, got {self.retry_after}")
        if self.api_key is not None and not self.api_key.strip():
            raise ConfigError("api_key: an empty key would let anyone in; give a key or None")


def api_key_from_env(var: str) -> str:
    """The API key held by the environment variable ``var``, read once at start-up.

    A key is never a command-line argument: every local user can read a process's
    arguments. A variable that is missing or empty is an error, not an open service.
    """
    if not var or not var.strip():
        raise ConfigError("--api-key-env: give the name of an environment variable")
    value = os.environ.get(var)
    if value is None:
        raise ConfigError(f"--api-key-env {var}: the environment variable {var} is not set")
    if not value.strip():
        raise ConfigError(f"--api-key-env {var}: the environment variable {var} is empty")
    return value


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the service on this machine (127.0.0.0/8, ::1,
    "localhost"); "0.0.0.0" and "::" listen on every interface."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything
