"""One exception hierarchy for kgagent.

Every error says *where* the problem is (file, line, column, field) so a user can fix
their input without reading a stack trace. Catch :class:`KGAgentError` to handle them all.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "EmbeddingError",
    "EncoderError",
    "IndexLoadError",
    "IndexMismatchError",
    "KGAgentError",
    "KGLoadError",
    "LLMError",
    "PolicyError",
    "QAFormatError",
    "QueryError",
    "ShapeValidationError",
    "StoreError",
    "TransferError",
    "ValidationError",
    "VocabularyError",
]


class KGAgentError(Exception):
    """Base class of every error raised by kgagent."""


class KGLoadError(KGAgentError):
    """A source could not be loaded; the store is left exactly as it was.

    Attributes:
        path: the file that failed (None for in-memory data).
        line: 1-based line of the problem, when the parser reports one.
        column: 1-based column of the problem, when the parser reports one.
        reason: the parser's own explanation.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column
        self.reason = reason
        where = self.path or "<data>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {reason}")


class QueryError(KGAgentError):
    """A SPARQL query or update was rejected (syntax, bad binding, endpoint failure)."""


class StoreError(KGAgentError):
    """The store could not be opened, reached or written."""


class ShapeValidationError(KGAgentError):
    """SHACL shapes could not be read or applied (:func:`kgagent.kg.validation.validate`).

    Named for what it is about: ``ValidationError`` clashed with pydantic's, which the
    config module catches beside it.
    """


#: Deprecated alias of :class:`ShapeValidationError` (the old name; kept so existing
#: ``except errors.ValidationError`` clauses still catch it).
ValidationError = ShapeValidationError


class VocabularyError(KGAgentError):
    """An id table is missing, corrupt, or does not match the graph."""


class IndexMismatchError(KGAgentError):
    """An index on disk does not match the graph or encoder it is used with."""


class IndexLoadError(KGAgentError):
    """An index directory is missing, incomplete or unreadable (the message names it)."""


class EncoderError(KGAgentError):
    """A text encoder could not be found, loaded or configured (never fetched from a hub)."""


class ConfigError(KGAgentError):
    """A configuration file or field is invalid (the message names the field)."""


class LLMError(KGAgentError):
    """An LLM server could not be reached or gave an unusable reply (the message names the URL).

    Attributes:
        url: the endpoint that failed.
        status: the HTTP status, when the server answered with one.
    """

    def __init__(self, message: str, *, url: str = "", status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class EmbeddingError(KGAgentError):
    """A KG embedding could not be built, trained, saved or loaded (the message says where)."""


class PolicyError(KGAgentError):
    """A policy checkpoint that does not fit the graph, or unusable training data."""


class TransferError(KGAgentError):
    """A bundle that is missing, corrupt, or does not fit where it is imported."""


class QAFormatError(KGAgentError):
    """A QA file line that cannot be read (the message names the file and line)."""
