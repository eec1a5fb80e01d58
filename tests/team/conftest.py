"""Three tiny graphs owned by different "teams", for the Team tests.

- people: who directed and starred in four films (the default base IRI);
- films: their years and genres, under IRIs of its own (matched to people's by label);
- awards: a prize for one film, whose IRI is linked to the films graph's only by
  ``owl:sameAs`` (its label differs: "Titanic (1997 film)").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.policy import PolicyConfig
from kgagent.workspace import init_workspace, open_kg
from tests.fakes import OverlapLM

TEAM_DATA = Path(__file__).resolve().parents[1] / "data" / "team"
FILMS_BASE = "http://films.example.org/kg/"
MEMBERS = (("people", "people.txt", None), ("films", "films.txt", FILMS_BASE),
           ("awards", "awards.nt", None))  # fmt: skip
TINY_POLICY = PolicyConfig(epochs=30, batch_size=8, rollouts=8, lr=5e-3, dim=32, patience=30)

DIRECTED = {"Christopher Nolan": ["Inception", "Interstellar"],
            "James Cameron": ["Titanic", "Avatar"]}  # fmt: skip
GENRE = {"Inception": "Science Fiction", "Interstellar": "Science Fiction",
         "Titanic": "Romance", "Avatar": "Action"}  # fmt: skip
YEAR = {"Inception": "2010", "Interstellar": "2014", "Titanic": "1997", "Avatar": "2009"}


def team_questions() -> list[tuple[str, list[str]]]:
    """Questions whose chains cross graphs (people -> films, people -> awards) and not."""
    qs = []
    for d, films in DIRECTED.items():
        qs.append((f"what genres are the films directed by {d}", sorted({GENRE[f] for f in films})))
        qs.append((f"when were the films directed by {d} released", [YEAR[f] for f in films]))
        for f in films:
            qs.append((f"who directed {f}", [d]))
    qs.append(("what award did the films starring Leonardo DiCaprio win",
               ["Academy Award for Best Picture"]))  # fmt: skip
    qs.append(("which award did films with Leonardo DiCaprio win",
               ["Academy Award for Best Picture"]))  # fmt: skip
    return qs


def make_member(root: Path, name: str, llm: str = "transformers") -> Path:
    """A member's workspace, indexed (hashing encoder)."""
    file, base = {m: (f, b) for m, f, b in MEMBERS}[name]
    cfg = AgentConfig(
        name=name, retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend=llm)
    )
    ws = init_workspace(root / name, config=cfg)
    with open_kg(ws) as kg:
        if file.endswith(".txt"):
            kg.load_triples(TEAM_DATA / file, base_iri=base)
        else:
            kg.load(TEAM_DATA / file)
    with Agent.open(ws) as agent:
        agent.index()
    return ws


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every test here trains or walks with one torch thread (see tests/conftest.py)."""


@pytest.fixture(scope="module")
def member_dirs(tmp_path_factory) -> dict[str, Path]:
    """The three indexed workspaces; people also has a trained path policy."""
    root = tmp_path_factory.mktemp("members")
    dirs = {name: make_member(root, name) for name, _, _ in MEMBERS}
    with Agent.open(dirs["people"]) as people:
        pairs = [(q, a) for q, a in team_questions() if q.startswith("who directed")]
        pairs += [(f"which films did {d} direct", films) for d, films in DIRECTED.items()]
        people.train_policy(pairs, config=TINY_POLICY)
    return dirs


@pytest.fixture(scope="module")
def members(member_dirs):
    """The agents, each reading with the deterministic fake LLM."""
    agents = {}
    for name, ws in member_dirs.items():
        agents[name] = Agent.open(ws)
        agents[name].llm = OverlapLM()
    yield agents
    for a in agents.values():
        a.close()
