"""``create_app(target, settings)``: the FastAPI app of ``kgagent serve``.

One target (an Agent or a Team) is shared by every request: the model and index are
loaded once, and the Agent's ``ask`` / ``ask_batch`` are thread-safe. The app is built
as a flat sequence of parts, each its own small module:

- the target behind one interface (:mod:`~kgagent.serve.target`),
- request models bounded by the agent's limits (:mod:`~kgagent.serve.schemas`),
- conversations kept server-side (:mod:`~kgagent.serve.conversations`),
- the concurrency limit, body limit and API key (:mod:`~kgagent.serve.limits`),
- metrics per route template (:mod:`~kgagent.serve.metrics`),
- one JSON error shape for everything (:mod:`~kgagent.serve.errors`),
- the endpoints (:mod:`~kgagent.serve.routes`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from kgagent import __version__
from kgagent.serve.conversations import ConversationStore
from kgagent.serve.errors import install_error_handlers
from kgagent.serve.limits import ApiKeyCheck, BodyLimit, ConcurrencyLimit
from kgagent.serve.metrics import Metrics, MetricsMiddleware
from kgagent.serve.routes import Service, add_routes
from kgagent.serve.schemas import request_models
from kgagent.serve.settings import ServeSettings
from kgagent.serve.target import serve_target

__all__ = ["create_app"]

DESCRIPTION = (
    "Questions answered from a knowledge graph, citing the facts used; conversations whose "
    "follow-ups are read against earlier turns; read-only SPARQL; an entity's facts. "
    'Every error is `{"error": {"status", "message", "field"}}`.'
)


def create_app(target: Any, settings: ServeSettings | None = None) -> FastAPI:
    """The app serving ``target`` (an :class:`~kgagent.agents.Agent` or a
    :class:`~kgagent.team.Team`, already open; the caller closes it).

    The target's index is loaded here (``/v1/info``'s counts), so a workspace that
    cannot answer fails before the service starts listening.
    """
    settings = settings or ServeSettings()
    adapter = serve_target(target)
    service = Service(
        target=adapter,
        settings=settings,
        models=request_models(
            max_question_chars=adapter.max_question_chars, max_batch=settings.max_batch
        ),
        conversations=ConversationStore(
            adapter.conversation,
            max_size=settings.conversations_max,
            ttl=settings.conversation_ttl,
        ),
        limit=ConcurrencyLimit(
            settings.max_concurrency, retry_after=settings.retry_after, wait=settings.queue_wait
        ),
        metrics=Metrics(),
        info=adapter.info(),
    )
    # /docs from Swagger UI's files in the swagger-ui-bundle wheel, not FastAPI's CDN
    # (the service works offline); ReDoc has no such wheel and is left out
    app = FastAPI(title="kgagent", version=__version__, description=DESCRIPTION,
                  docs_url=None, redoc_url=None)  # fmt: skip
    app.state.service = service
    install_error_handlers(app)
    add_routes(app, service)
    _offline_docs(app)
    # the last added is the outermost: metrics see every refusal; the key is checked
    # before the body is read
    app.add_middleware(BodyLimit, max_body=settings.max_body)
    if settings.api_key is not None:
        app.add_middleware(ApiKeyCheck, key=settings.api_key)
    app.add_middleware(
        MetricsMiddleware, metrics=service.metrics, mounts=("/static", "/docs-assets")
    )
    return app


def _offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI over ``/openapi.json``, its script and style served from
    ``/docs-assets`` (Swagger UI 4, Apache-2.0, as the swagger-ui-bundle wheel ships it)."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="kgagent: HTTP API",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )
