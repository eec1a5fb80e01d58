"""One registry shape for every kind of extension: name -> (module path, attribute).

Store backends, text encoders, LLM backends, KGE models and walks are each a
:class:`Registry`, declared next to ``__all__`` in their subpackage's ``__init__``. An
entry is only a module path and an attribute name, imported on first :meth:`Registry.get`
(as rdflib's ``plugin.py``), so declaring a registry costs nothing: listing the encoders
does not import torch. A new backend is one ``register`` call, and the contract suites in
``tests/contract/`` read their parameter lists from the registries, so registering it is
also what puts it under test.

    from kgagent.retrieval import ENCODERS

    ENCODERS.register("mine", "my_package.encoders", "MyEncoder")
    encoder = ENCODERS.get("mine")(dim=64)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from kgagent.errors import KGAgentError

__all__ = ["Entry", "Registry"]

#: what an unknown name's error says unless a registry gives its own ``message``
_DEFAULT_MESSAGE = "unknown {kind} {name!r}; registered: {sorted}"


@dataclass
class Entry:
    """One registered name: where its object lives, and the object once imported."""

    name: str
    module_path: str
    attr: str
    loaded: Any = field(default=None, repr=False)

    @property
    def target(self) -> str:
        """``module:attr``, as error messages and docs write it."""
        return f"{self.module_path}:{self.attr}"


class Registry:
    """Names of one kind of extension, each resolved lazily to a class or factory.

    Args:
        kind: what the entries are (``"store"``, ``"encoder"``, ...), used in messages.
        error: the :class:`~kgagent.errors.KGAgentError` subclass raised for an unknown
            name or an entry that cannot be imported, so each subpackage keeps raising its
            own error type.
        message: the unknown-name message, a ``str.format`` template with the fields
            ``kind``, ``name`` (as given), ``names`` (comma-joined in registration order)
            and ``sorted`` (comma-joined, sorted); lets a registry keep the wording its
            callers already match on.
        case_sensitive: False folds names to lower case on register and lookup (KGE
            model names are matched that way).

    Iterating, ``len``, ``in`` and ``registry[name]`` behave as on the read-only dict of
    name -> object the registries replace (``registry[name]`` raises ``KeyError`` for an
    unknown name, as a dict does; :meth:`get` raises ``error`` with the known names).
    Thread-safe: imports happen under a lock, once per entry.
    """

    def __init__(
        self,
        kind: str,
        *,
        error: type[KGAgentError] = KGAgentError,
        message: str = _DEFAULT_MESSAGE,
        case_sensitive: bool = True,
    ) -> None:
        self.kind = kind
        self.error = error
        self.message = message
        self.case_sensitive = case_sensitive
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()!r})"

    def _key(self, name: str) -> str:
        return name if self.case_sensitive else name.lower()

    def register(self, name: str, module_path: str, attr: str) -> None:
        """Adds (or replaces) ``name``; nothing is imported until it is first asked for.

        Raises:
            TypeError: a name, module path or attribute that is not a non-empty string.
        """
        for label, value in (("name", name), ("module_path", module_path), ("attr", attr)):
            if not isinstance(value, str) or not value:
                raise TypeError(f"{self.kind} registry: {label} must be a non-empty string")
        key = self._key(name)
        with self._lock:
            self._entries[key] = Entry(key, module_path, attr)

    def unregister(self, name: str) -> None:
        """Removes ``name`` (a no-op if it is not registered); for tests and plugins."""
        with self._lock:
            self._entries.pop(self._key(name), None)

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._entries)

    def entry(self, name: str) -> Entry:
        """The entry of ``name`` without importing it.

        Raises:
            KGAgentError: (this registry's ``error``) an unknown name; the message lists the
                registered ones.
        """
        try:
            return self._entries[self._key(name)]
        except (KeyError, AttributeError):  # AttributeError: a non-str name
            names = self.names()
            raise self.error(
                self.message.format(
                    kind=self.kind,
                    name=name,
                    names=", ".join(names),
                    sorted=", ".join(sorted(names)),
                )
            ) from None

    def get(self, name: str) -> Any:
        """The class or factory registered under ``name``, imported on first use.

        Raises:
            KGAgentError: (this registry's ``error``) an unknown name, or an entry whose
                module or attribute cannot be imported.
        """
        entry = self.entry(name)
        if entry.loaded is None:
            with self._lock:
                if entry.loaded is None:
                    entry.loaded = self._import(entry)
        return entry.loaded

    def _import(self, entry: Entry) -> Any:
        try:
            module = import_module(entry.module_path)
        except ImportError as exc:
            raise self.error(
                f"{self.kind} {entry.name!r}: cannot import {entry.module_path} ({exc})"
            ) from exc
        try:
            return getattr(module, entry.attr)
        except AttributeError:
            raise self.error(
                f"{self.kind} {entry.name!r}: {entry.module_path} has no {entry.attr!r}"
            ) from None

    # -- the read-only mapping the registries replace ---------------------------------------

    def __getitem__(self, name: str) -> Any:
        if not isinstance(name, str) or self._key(name) not in self._entries:
            raise KeyError(name)
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
