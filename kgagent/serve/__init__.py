"""``kgagent serve``: the HTTP API (FastAPI) and the web page over one Agent or Team.

``create_app(agent, ServeSettings(...))`` gives the ASGI app; ``kgagent serve WS`` runs it
with uvicorn. The contract (endpoints, records, errors, limits) is in the docs'
how-to guide, docs/how-to/serving.md.
"""

from __future__ import annotations

from kgagent.serve.app import create_app
from kgagent.serve.errors import ServeError
from kgagent.serve.settings import ServeSettings

__all__ = ["ServeError", "ServeSettings", "create_app"]
