"""kgagent's pytest plugin: fixtures and assertions for tests of applications built on it.

Installed with kgagent (entry point ``pytest11``), so every pytest run loads this module:
it imports nothing heavy, and its fixtures build nothing until a test uses them.

Fixtures:
    kg_config (session): the workspace's :class:`~kgagent.config.AgentConfig`; the
        encoder ``--kgagent-encoder`` names (default ``hashing``: offline and fast).
        Override it in a ``conftest.py`` for other settings (an OpenAI-compatible LLM
        for ``--kgagent-real-model``).
    kg_workspace (session): the directory of a workspace built once from the ontology
        files ``--kgagent-ontology`` (or the ini option ``kgagent_ontology``) names, the
        bundled demo ontology by default: initialised, loaded and indexed.
    kg_encoder (session): the encoder, built once (a real one loads once per session).
    kg_llm (session): the reader's LLM: a deterministic :class:`OverlapLM`, or the
        configured model with ``--kgagent-real-model`` (loaded once per session).
    kg_agent: an :class:`~kgagent.agents.Agent` opened on ``kg_workspace`` with
        ``kg_encoder`` and ``kg_llm``, closed after the test; :func:`assert_grounded`
        checks its store.

Assertions: :func:`assert_grounded`, :func:`assert_cites`, :func:`assert_abstains`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from kgagent._lazy import lazy_attributes
from kgagent.testing.assertions import (
    assert_abstains,
    assert_cites,
    assert_grounded,
    checked_against,
)

if TYPE_CHECKING:
    from kgagent.config import AgentConfig
    from kgagent.testing.fakes import OverlapLM

__all__ = [
    "DEMO_ONTOLOGY",
    "OverlapLM",
    "assert_abstains",
    "assert_cites",
    "assert_grounded",
    "checked_against",
]

#: the demo movie ontology (a copy of the repository's ontologies/movies.ttl, shipped in
#: the package so the default works when kgagent is installed from a wheel)
DEMO_ONTOLOGY = Path(__file__).parent / "data" / "movies.ttl"

__getattr__ = lazy_attributes(__name__, {"OverlapLM": "kgagent.testing.fakes"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kgagent", "kgagent: fixtures kg_workspace and kg_agent")
    group.addoption(
        "--kgagent-ontology",
        action="append",
        metavar="PATH",
        help="RDF file the kg_workspace fixture loads (repeat for several; any format "
        "kgagent loads). Default: the ini option kgagent_ontology, else the bundled demo "
        "movie ontology.",
    )
    group.addoption(
        "--kgagent-encoder",
        default="hashing",
        metavar="NAME",
        help="registered encoder the workspace indexes with: hashing (default: offline, "
        "fast) or minilm (the real sentence encoder).",
    )
    group.addoption(
        "--kgagent-real-model",
        action="store_true",
        help="kg_agent reads with the configured LLM instead of the deterministic fake.",
    )
    parser.addini(
        "kgagent_ontology",
        "RDF files the kg_workspace fixture loads, relative to the ini file "
        "(--kgagent-ontology overrides).",
        type="paths",
        default=[],
    )


def ontology_paths(config: pytest.Config) -> list[Path]:
    """The files ``kg_workspace`` loads: the command line's (relative to where pytest
    was started), else the ini option's (relative to the ini file), else the demo."""
    given = config.getoption("kgagent_ontology")
    if given:
        base = config.invocation_params.dir
        return [Path(base, p) for p in given]
    return [Path(p) for p in config.getini("kgagent_ontology")] or [DEMO_ONTOLOGY]


def _named_by(config: pytest.Config) -> str:
    """Which setting named the ontology files, for the message when one is missing."""
    if config.getoption("kgagent_ontology"):
        return "named by --kgagent-ontology"
    if config.getini("kgagent_ontology"):
        return "named by the ini option kgagent_ontology"
    return "the bundled demo ontology: kgagent was installed without its package data"


@pytest.fixture(scope="session")
def kg_config(pytestconfig: pytest.Config) -> AgentConfig:
    """The workspace's configuration: defaults, with the encoder the options name."""
    from kgagent.config import AgentConfig, RetrievalConfig

    encoder = pytestconfig.getoption("kgagent_encoder")
    return AgentConfig(retrieval=RetrievalConfig(encoder=encoder))


@pytest.fixture(scope="session")
def kg_encoder(kg_config: AgentConfig) -> Any:
    """The encoder ``kg_config`` names, built once for every agent of the session."""
    from kgagent.retrieval.encoder import get_encoder

    rc = kg_config.retrieval
    return get_encoder(rc.encoder, **rc.encoder_kwargs)


@pytest.fixture(scope="session")
def kg_workspace(
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
    kg_config: AgentConfig,
    kg_encoder: Any,
) -> Path:
    """A workspace built once per session: init, load each ontology file, index."""
    from kgagent.agents import Agent
    from kgagent.workspace import init_workspace, open_kg

    paths = ontology_paths(pytestconfig)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        named = _named_by(pytestconfig)
        pytest.fail(f"kg_workspace: no such file: {', '.join(missing)} ({named})", pytrace=False)
    root = init_workspace(tmp_path_factory.mktemp("kgagent") / "ws", config=kg_config)
    with open_kg(root) as kg:
        for path in paths:
            kg.load(path)
    with Agent.open(root, encoder=kg_encoder) as agent:
        agent.index()
    return root


@pytest.fixture(scope="session")
def kg_llm(pytestconfig: pytest.Config, kg_workspace: Path) -> Any:
    """The reader's LLM, shared by every ``kg_agent`` of the session (a real model is
    loaded once): :class:`OverlapLM`, or the configured one with --kgagent-real-model
    (None where the config's backend is ``none``)."""
    if not pytestconfig.getoption("kgagent_real_model"):
        from kgagent.testing.fakes import OverlapLM

        return OverlapLM()
    from kgagent.agents import Agent

    with Agent.open(kg_workspace) as agent:
        return agent.llm


@pytest.fixture
def kg_agent(kg_workspace: Path, kg_encoder: Any, kg_llm: Any):
    """An Agent on the session's workspace, reading with ``kg_llm``; opened for each test
    (cheap: the index is built), so a test that changes its settings changes no other."""
    from kgagent.agents import Agent

    agent = Agent.open(kg_workspace, encoder=kg_encoder)
    agent.llm = kg_llm
    try:
        with checked_against(agent):
            yield agent
    finally:
        agent.close()
