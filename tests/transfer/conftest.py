"""A tiny film graph, twice: a source workspace with a trained policy and embedding, and
a target holding the same facts under other IRIs (so only labels align them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.workspace import init_workspace, open_kg

CONFIG = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none"))
FILMS = ["Zorblat", "Quenmar", "Vistrel", "Orlumin", "Braxide", "Celvano",
         "Drusket", "Fenwold", "Glimora", "Hastrel", "Ilvenor", "Jorvane"]  # fmt: skip
DIRECTORS = ["Kadrick Moss", "Lorna Vell", "Marek Ost", "Nadia Rune"]
ACTORS = ["Olin Frey", "Pia Dorne", "Quill Amsel", "Rhea Tamm", "Sven Kalt", "Tova Lind"]
OTHER = "http://other.example/"


def write_kb(path: Path) -> Path:
    lines = []
    for i, film in enumerate(FILMS):
        lines.append(f"{film}|directed_by|{DIRECTORS[i % 4]}")
        lines.append(f"{film}|starred_actors|{ACTORS[i % 6]}")
        lines.append(f"{film}|starred_actors|{ACTORS[(i + 1) % 6]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def director_questions() -> list[tuple[str, list[str]]]:
    """One-hop: a film's director."""
    return [(f"who directed {f}", [DIRECTORS[i % 4]]) for i, f in enumerate(FILMS)]


def actor_questions() -> list[tuple[str, list[str]]]:
    """One-hop: a film's actors."""
    return [
        (f"which actors starred in {f}", [ACTORS[i % 6], ACTORS[(i + 1) % 6]])
        for i, f in enumerate(FILMS)
    ]


def make_workspace(root: Path, kb: Path, *, base_iri: str | None = None) -> Agent:
    init_workspace(root, config=CONFIG)
    with open_kg(root) as kg:
        kg.load_triples(kb, base_iri=base_iri)
    agent = Agent.open(root)
    agent.index()
    return agent


@pytest.fixture(scope="module")
def kb(tmp_path_factory) -> Path:
    return write_kb(tmp_path_factory.mktemp("kb") / "films.txt")


@pytest.fixture(scope="module")
def source(tmp_path_factory, kb):
    """The source agent: a policy trained on director and actor questions."""
    from kgagent.policy import PolicyConfig

    agent = make_workspace(tmp_path_factory.mktemp("source") / "ws", kb)
    cfg = PolicyConfig(epochs=12, dim=16, lr=1e-2, batch_size=8, seed=0, patience=12)
    agent.train_policy((director_questions() + actor_questions()) * 2, config=cfg)
    yield agent
    agent.close()


@pytest.fixture
def target(tmp_path, kb):
    """The same facts under other IRIs (labels equal), with no policy."""
    agent = make_workspace(tmp_path / "target", kb, base_iri=OTHER)
    yield agent
    agent.close()


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread):
    """Tiny tensors: one intra-op thread is faster than several contending for 2 cores."""
