"""Three agents over three graphs answering together.

    python examples/team.py [WORKDIR]

Builds three small workspaces from ``tests/data/team``: *people* (who directed and
starred in four films), *films* (their years and genres, under IRIs of its own) and
*awards* (a prize, for a film it names by an IRI of its own, linked to the films graph by
``owl:sameAs``). Then it forms a team, trains the team's path policy over the three graphs,
warm-started from the people agent's policy (the transfer module), and asks two
questions no single graph can answer: the genres of James Cameron's films (people ->
films, the films matched by label) and the award of Leonardo DiCaprio's films (people ->
awards, through ``owl:sameAs``). Every
cited fact names the agent and graph it came from. Runs in seconds, offline: the
hashing encoder and no LLM (the policy's prior reads the answer).
The same on the command line: ``kgagent team ask --agent WS1 --agent WS2 "question"``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from kgagent import Agent, Team
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.policy import PolicyConfig
from kgagent.workspace import init_workspace, open_kg

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "team"
MEMBERS = {
    "people": ("people.txt", None),
    "films": ("films.txt", "http://films.example.org/kg/"),
    "awards": ("awards.nt", None),
}
SMALL = PolicyConfig(epochs=15, batch_size=16, lr=5e-3, dim=32, patience=30)


def member(root: Path, name: str) -> Path:
    file, base = MEMBERS[name]
    cfg = AgentConfig(name=name, retrieval=RetrievalConfig(encoder="hashing"),
                      llm=LLMConfig(backend="none"))  # fmt: skip
    ws = init_workspace(root / name, config=cfg)
    with open_kg(ws) as kg:
        if not kg.sources():
            if file.endswith(".txt"):
                kg.load_triples(DATA / file, base_iri=base)
            else:
                kg.load(DATA / file)
    with Agent.open(ws) as agent:
        agent.index()
    return ws


def show(answer) -> None:
    print(f"   {answer.text}")
    for f in answer.facts:
        print(f"     [{f.agent}] {f.text}")
    for p in answer.paths[:2]:
        print(f"     path: {p.text}")


def main(root: Path) -> None:
    dirs = {name: member(root, name) for name in MEMBERS}
    with Agent.open(dirs["people"]) as people:
        people.train_policy(
            [("who directed Titanic", ["James Cameron"]),
             ("who directed Inception", ["Christopher Nolan"]),
             ("which films did James Cameron direct", ["Titanic", "Avatar"]),
             ("which films did Christopher Nolan direct", ["Inception", "Interstellar"])] * 8,
            config=SMALL,
        )  # fmt: skip

    with Team(agents=list(dirs.values()), workspace=root / "team") as team:
        print("== the team:", json.dumps(team.info()["coverage"], indent=1))
        report = team.train_policy(questions() * 12, config=SMALL)
        t = report["transfer"]
        print(f"== team policy: warm start from {t['warm_start']} "
              f"({t['relations']['aligned']}/{t['relations']['target']} relations aligned), "
              f"validation Hits@1 {report['valid']['hits_at_1']:.2f}")  # fmt: skip
        for q in (
            "what genres are the films directed by James Cameron",  # people -> films
            "what award did the films starring Leonardo DiCaprio win",
        ):  # -> awards
            print(f"== {q}  (routed to {team.route(q).names(team.federation)})")
            show(team.ask(q))


def questions() -> list[tuple[str, list[str]]]:
    """Training questions for the team policy: some cross graphs, some do not."""
    directed = {"Christopher Nolan": ["Inception", "Interstellar"],
                "James Cameron": ["Titanic", "Avatar"]}  # fmt: skip
    genre = {"Inception": "Science Fiction", "Interstellar": "Science Fiction",
             "Titanic": "Romance", "Avatar": "Action"}  # fmt: skip
    year = {"Inception": "2010", "Interstellar": "2014", "Titanic": "1997", "Avatar": "2009"}
    out = []
    for d, films in directed.items():
        genres = sorted({genre[f] for f in films})
        out.append((f"what genres are the films directed by {d}", genres))
        out.append((f"when were the films directed by {d} released", [year[f] for f in films]))
        out += [(f"who directed {f}", [d]) for f in films]
    prize = ["Academy Award for Best Picture"]
    out += [("what award did the films starring Leonardo DiCaprio win", prize),
            ("which award did films with Leonardo DiCaprio win", prize)]  # fmt: skip
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
