"""The request and response bodies of the service, as pydantic models.

Requests are strict (``extra="forbid"``, no coercion: ``{"question": 5}`` is refused
rather than asked as ``"5"``), so a typo'd field is a 422 naming it, not a silently
ignored option. Their limits (question length, batch size) are those of the agent and
service being run, so the request models are made per app by :func:`request_models`.
Responses are documented by models here and built by :mod:`kgagent.serve.records` from
the Python API's own ``to_dict()``: the JSON a client gets is the record ``kgagent ask
--out`` writes, never a second hand-kept copy of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "AskBatchResponse",
    "AskRecord",
    "Binding",
    "ConversationCreated",
    "ConversationRecord",
    "EntityRecord",
    "ErrorBody",
    "FactRecord",
    "Health",
    "Info",
    "RequestModels",
    "request_models",
]

#: a SPARQL query's text, at most (the body limit bounds it too)
MAX_QUERY_CHARS = 20_000
#: bindings one query may carry
MAX_BINDINGS = 64
#: facts a retrieve may rank
MAX_K = 200


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Open(BaseModel):
    """A response documented by its main fields; the record may carry more."""

    model_config = ConfigDict(extra="allow")


class Binding(_Strict):
    """A value bound to a query variable: an IRI, or a literal with an optional datatype
    or language (never both). Joined into the query as an escaped term, never as text."""

    iri: str | None = Field(None, max_length=4096)
    literal: str | None = Field(None, max_length=MAX_QUERY_CHARS)
    datatype: str | None = Field(None, max_length=4096)
    lang: str | None = Field(None, max_length=64)

    @model_validator(mode="after")
    def _one_kind(self) -> Binding:
        if (self.iri is None) == (self.literal is None):
            raise ValueError('give exactly one of "iri" or "literal"')
        if self.iri is not None and (self.datatype is not None or self.lang is not None):
            raise ValueError('"datatype" and "lang" go with a "literal", not an "iri"')
        if self.datatype is not None and self.lang is not None:
            raise ValueError('a literal has a "datatype" or a "lang", not both')
        return self


class QueryRequest(_Strict):
    """``POST /v1/query``: a SELECT, ASK, CONSTRUCT or DESCRIBE (updates are refused)."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    bindings: dict[str, Binding] = Field(default_factory=dict, max_length=MAX_BINDINGS)


class ConversationRequest(_Strict):
    """``POST /v1/conversations``: no options yet (``{}`` or no body)."""


@dataclass(frozen=True)
class RequestModels:
    """The request models of one app, bounded by its agent's and service's limits."""

    ask: type[BaseModel]
    ask_batch: type[BaseModel]
    retrieve: type[BaseModel]
    turn: type[BaseModel]
    query: type[BaseModel] = QueryRequest
    conversation: type[BaseModel] = ConversationRequest


def request_models(*, max_question_chars: int, max_batch: int) -> RequestModels:
    """Request models whose questions are at most ``max_question_chars`` characters (the
    agent's ``qa.max_question_chars``) and whose batches at most ``max_batch``."""
    question_type = Annotated[  # a question of blanks is no question ("   ": 422, not asked)
        str, StringConstraints(min_length=1, max_length=max_question_chars, pattern=r"\S")
    ]

    class AskRequest(_Strict):
        """``POST /v1/ask``: one question."""

        question: question_type  # type: ignore[valid-type]

    class AskBatchRequest(_Strict):
        """``POST /v1/ask_batch``: questions answered together (one LLM pass per chunk)."""

        questions: list[question_type] = Field(max_length=max_batch)  # type: ignore[valid-type]

    class RetrieveRequest(_Strict):
        """``POST /v1/retrieve``: the evidence of a question, without reading it."""

        question: question_type  # type: ignore[valid-type]
        k: int | None = Field(None, ge=1, le=MAX_K)

    class TurnRequest(_Strict):
        """``POST /v1/conversations/{id}/turns``: the conversation's next question."""

        question: question_type  # type: ignore[valid-type]

    return RequestModels(AskRequest, AskBatchRequest, RetrieveRequest, TurnRequest)


# -- responses (documentation of what records.py builds) ----------------------------------


class ErrorDetail(BaseModel):
    status: int
    message: str
    field: str | None


class ErrorBody(BaseModel):
    """Every error: ``{"error": {"status", "message", "field"}}``."""

    error: ErrorDetail


class FactRecord(_Open):
    """A cited fact: ``n`` is its citation number (``[n]`` in the answer's text); ``id``
    the fact's id as a string (64 bits do not survive a JavaScript number)."""

    n: int
    id: str
    subject: str
    subject_label: str
    predicate: str
    predicate_label: str
    object: str
    object_label: str
    object_is_literal: bool
    text: str


class GraphNode(BaseModel):
    id: str
    label: str
    role: str = Field(description='"topic", "answer", "hop" or "value"')


class GraphEdge(BaseModel):
    source: str
    target: str
    label: str
    fact: int = Field(description="the citation number of the fact the edge draws")


class AnswerGraph(BaseModel):
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class AskRecord(_Open):
    """``Answer.to_dict()`` (what ``kgagent ask --out`` writes) plus ``fact_records`` and
    ``graph``; a conversation turn adds ``turn`` and ``context``."""

    question: str
    answers: list[str]
    answer_iris: list[str]
    text: str
    facts: list[dict[str, Any]]
    paths: list[str]
    confidence: float
    abstained: bool
    kind: str
    latency_ms: float
    timings: dict[str, float]
    fact_records: list[FactRecord]
    graph: AnswerGraph


class AskBatchResponse(BaseModel):
    answers: list[AskRecord]


class ConversationCreated(BaseModel):
    id: str


class TurnSummary(BaseModel):
    question: str
    asked: str
    kind: str


class ConversationRecord(BaseModel):
    id: str
    turns: list[TurnSummary]


class EntityRecord(BaseModel):
    iri: str
    label: str
    facts: list[FactRecord]
    more: int = Field(description="facts left out by the limit")


class Health(BaseModel):
    status: str


class Info(_Open):
    kind: str
    name: str
    entities: int
    facts: int
    relations: int
    llm: bool
    version: str
    members: list[str] | None = None
