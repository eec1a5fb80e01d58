"""The endpoints of ``kgagent serve`` (the contract: docs/how-to/serving.md).

Endpoints that ask the agent are plain ``def``: FastAPI runs them in its thread pool, so
a question being read never blocks the event loop that accepts the next request, and
one Agent (thread-safe) serves them all. The ask endpoints take a slot of the
concurrency limit first (429 when none is free).

No ``from __future__ import annotations`` here, unlike the rest of kgagent: FastAPI reads
the endpoints' annotations at run time, and the request models are made per app (their
limits are the agent's), so they are local names a string annotation could not resolve.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Path, Query
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.responses import StreamingResponse as _Stream
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask

from kgagent.errors import KGAgentError
from kgagent.serve.conversations import ConversationStore
from kgagent.serve.errors import (
    ServeError,
    client_message,
    error_body,
    field_of,
    log,
    status_of,
)
from kgagent.serve.limits import ConcurrencyLimit, Slot
from kgagent.serve.metrics import Metrics
from kgagent.serve.records import (
    ask_record,
    candidates_event,
    conversation_record,
    entities_event,
    entity_record,
    turn_record,
)
from kgagent.serve.schemas import (
    AskBatchResponse,
    AskRecord,
    ConversationCreated,
    ConversationRecord,
    ConversationRequest,
    EntityRecord,
    ErrorBody,
    Health,
    Info,
    QueryRequest,
    RequestModels,
)
from kgagent.serve.settings import ServeSettings

__all__ = ["Service", "add_routes", "sse"]

#: the errors every endpoint may answer with, documented once in the OpenAPI schema
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 429, 500)
}
_ID = Path(min_length=1, max_length=64, description="the id POST /v1/conversations gave")
#: the page loads only its own files and talks only to this service: graph text that
#: slipped into markup still could not run a script, load from elsewhere or be framed
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Service:
    """What the endpoints of one app share (one of each per app)."""

    target: Any  # AgentTarget or TeamTarget
    settings: ServeSettings
    models: RequestModels
    conversations: ConversationStore
    limit: ConcurrencyLimit
    metrics: Metrics
    info: dict[str, Any]


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event: its name and its data as one line of JSON."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return f"event: {event}\ndata: {text}\n\n"


def _error_event(exc: BaseException) -> str:
    if isinstance(exc, KGAgentError):
        status = status_of(exc)
        if status >= 500:
            log.warning("stream: %s", exc)
        return sse("error", error_body(status, client_message(exc, status), field_of(exc))["error"])
    log.error("stream failed", exc_info=exc)
    message = f"internal error ({type(exc).__name__}); see the server log"
    return sse("error", error_body(500, message)["error"])


def _stages(target: Any, question: str, slot: Slot) -> Iterator[str]:
    """The stream of one question: linked entities, candidates, then the answer read
    from that same evidence (retrieved once), or an ``error`` event; the ask's slot is
    freed when it ends."""
    try:
        evidence = target.evidence(question)
        yield sse("entities", entities_event(evidence))
        yield sse("candidates", candidates_event(evidence))
        yield sse("answer", ask_record(target.answer(evidence)))
    except Exception as exc:  # the status line is sent: the error is an event
        yield _error_event(exc)
    finally:
        slot.release()


def _stream(target: Any, question: str, slot: Slot) -> Response:
    """The SSE response of one question. The slot is also released when the response
    is done, in case the client left before the stream began (then it never runs)."""
    return _Stream(
        _stages(target, question, slot),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(slot.release),
    )


def add_routes(app: FastAPI, service: Service) -> None:
    """Every endpoint of the contract on ``app``."""
    _page_routes(app, service)
    _ask_routes(app, service)
    _conversation_routes(app, service)
    _graph_routes(app, service)


def _page_routes(app: FastAPI, s: Service) -> None:
    static = s.settings.static_dir

    @app.get("/", include_in_schema=False)
    def page() -> Response:
        index = static / "index.html"
        if not index.is_file():
            log.warning("no web page: %s is missing", index)
            raise ServeError("no web page: static/index.html is missing here", status=404)
        return FileResponse(index, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=static, check_dir=False), name="static")

    @app.get("/healthz", response_model=Health, tags=["service"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse, tags=["service"], responses=ERRORS)
    def metrics() -> PlainTextResponse:
        gauges = {"kgagent_conversations": ("Conversations kept now.", len(s.conversations))}
        return PlainTextResponse(s.metrics.render(gauges),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")  # fmt: skip

    @app.get("/v1/info", response_model=Info, tags=["service"], responses=ERRORS)
    def info() -> Response:
        return JSONResponse(s.info)


def _ask_routes(app: FastAPI, s: Service) -> None:
    m, target, limit = s.models, s.target, s.limit
    streamed = {200: {"content": {"text/event-stream": {}},
                      "description": "AskRecord, or with stream=true the events entities, "
                      "candidates, answer (or error)"}}  # fmt: skip

    @app.post("/v1/ask", response_model=AskRecord, tags=["ask"],
              responses={**ERRORS, **streamed})  # fmt: skip
    def ask(
        body: m.ask,
        stream: bool = Query(False, description="send Server-Sent Events for the stages"),
    ) -> Response:
        """Answers one question, citing the facts used (or abstains)."""
        if stream:
            return _stream(target, body.question, limit.acquire())
        with limit.acquire():
            answer = target.ask(body.question)
        return JSONResponse(ask_record(answer))

    @app.post("/v1/ask_batch", response_model=AskBatchResponse, tags=["ask"], responses=ERRORS)
    def ask_batch(body: m.ask_batch) -> Response:
        """Answers several questions together (one LLM pass per chunk)."""
        with limit.acquire():
            answers = target.ask_batch(body.questions)
        return JSONResponse({"answers": [ask_record(a) for a in answers]})

    @app.post("/v1/retrieve", tags=["ask"], responses=ERRORS)
    def retrieve(body: m.retrieve) -> Response:
        """The evidence of a question (facts, paths, linked entities, candidates),
        without reading it: ``Evidence.to_dict()``."""
        with limit.acquire():
            evidence = target.retrieve(body.question, body.k)
        return JSONResponse(evidence.to_dict())


def _conversation_routes(app: FastAPI, s: Service) -> None:
    m, store = s.models, s.conversations

    @app.post("/v1/conversations", status_code=201, response_model=ConversationCreated,
              tags=["conversations"], responses=ERRORS)  # fmt: skip
    def create_conversation(body: ConversationRequest | None = None) -> dict[str, str]:
        """Opens a conversation: follow-ups are read against its turns."""
        return {"id": store.create()}

    @app.post("/v1/conversations/{cid}/turns", response_model=AskRecord,
              tags=["conversations"], responses=ERRORS)  # fmt: skip
    def turn(body: m.turn, cid: str = _ID) -> Response:
        """Asks the conversation's next question; the record adds ``turn`` and
        ``context`` (what it took from earlier turns; null on a first turn)."""
        with s.limit.acquire():
            answer, n = store.ask(cid, body.question)
        return JSONResponse(turn_record(answer, n))

    @app.get("/v1/conversations/{cid}", response_model=ConversationRecord,
             tags=["conversations"], responses=ERRORS)  # fmt: skip
    def conversation(cid: str = _ID) -> dict[str, Any]:
        return conversation_record(cid, store.turns(cid))

    @app.delete("/v1/conversations/{cid}", status_code=204, tags=["conversations"],
                responses=ERRORS)  # fmt: skip
    def delete_conversation(cid: str = _ID) -> Response:
        store.delete(cid)
        return Response(status_code=204)


def _graph_routes(app: FastAPI, s: Service) -> None:
    @app.post("/v1/query", tags=["graph"], responses=ERRORS)
    def query(body: QueryRequest) -> Response:
        """Read-only SPARQL (SELECT, ASK, CONSTRUCT, DESCRIBE) with bindings joined in as
        terms; updates and SERVICE are refused."""
        with s.limit.acquire():
            result = s.target.query(body.query, body.bindings, rows=s.settings.query_rows)
        return JSONResponse(result)

    @app.get("/v1/entity", response_model=EntityRecord, tags=["graph"], responses=ERRORS)
    def entity(
        iri: str = Query(min_length=1, max_length=4096, description="the entity's IRI"),
        limit: int = Query(50, ge=1, le=s.settings.entity_limit, description="facts, at most"),
    ) -> Response:
        """The facts an entity takes part in, either side (its neighbourhood)."""
        found = s.target.entity(iri, limit)
        if found is None:
            raise ServeError(f"iri: no entity {iri!r} in the graph", status=404, field="iri")
        label, facts, more = found
        return JSONResponse(entity_record(iri, label, facts, more))
