"""The kgagent demo: a movie ontology loaded, reasoned over, validated, queried — and an
agent that answers questions from it, citing the facts it used.

Run with ``make demo`` (or ``python examples/demo.py [WORKSPACE]``). The workspace is
re-used across runs: loading the same file again replaces its source, reasoning replaces
the previous inferences, the index only encodes new facts, and the path policy and the
reader's LoRA adapter are trained (briefly, on questions synthesized from the graph: no QA
data) only on the first run.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rdflib import Literal

from kgagent.agents import Agent
from kgagent.kg.info import describe, render, render_result
from kgagent.workspace import init_workspace, open_kg

ROOT = Path(__file__).resolve().parents[1]
ONTOLOGY = ROOT / "ontologies" / "movies.ttl"
SHAPES = ROOT / "ontologies" / "movies-shapes.ttl"


def main(workspace: Path) -> None:
    t0 = time.perf_counter()
    init_workspace(workspace)
    with open_kg(workspace) as kg:
        print(f"== load\n{kg.load(ONTOLOGY)}")
        print(f"\n== reason\n{kg.reason('rdfs')}")
        print(f"\n== kgagent info {workspace}\n{render(describe(kg, max_items=15))}")

        print("\n== validate (SHACL)")
        print(kg.validate(SHAPES))

        print("\n== who directed the films Hans Zimmer scored? (bindings, not string formatting)")
        result = kg.query(
            """
            SELECT DISTINCT ?director ?film WHERE {
              ?composer rdfs:label ?name .
              ?f mo:musicBy ?composer ; mo:directedBy ?d ; rdfs:label ?film .
              ?d rdfs:label ?director .
            } ORDER BY ?director ?film
            """,
            bindings={"name": Literal("Hans Zimmer", lang="en")},
            prefixes={"mo": "https://kgagent.dev/ontology/movies#"},
        )
        print(render_result(result, limit=20))
        onto = kg.ontology
        people = onto.individuals("https://kgagent.dev/ontology/movies#Person")
        print(
            f"\n{len(people)} people in the graph after RDFS reasoning (some typed only by range)"
        )
    ask(workspace)
    print(f"\ndemo finished in {time.perf_counter() - t0:.1f}s; workspace: {workspace}")


QUESTIONS = [
    "Who directed Inception?",  # its rdfs:comment tries a prompt injection: data, not orders
    "Which films did Christopher Nolan direct?",
    "Who composed the music of The Dark Knight Rises?",
    "Which genres do the films directed by Denis Villeneuve have?",
    "What is the capital of Mongolia?",  # not in the graph: an honest abstention
    # typed questions: programs over the graph, each with the SPARQL that gives its answer
    "How many films did Christopher Nolan direct?",  # a count
    "Did Denis Villeneuve direct Inception?",  # yes / no
    "Which films directed by Christopher Nolan star Tom Hardy?",  # two constraints
    "Which films did Christopher Nolan direct in 2010?",  # a value constraint
    "What is the earliest film directed by Christopher Nolan?",  # a superlative
    "Which was released first, Memento or Inception?",  # a comparison
    "When was Interstellar released?",  # a value
]


#: a conversation: each follow-up is read against the turns before it
TALK = [
    "Who directed Inception?",
    "What else did he direct?",  # "he": the last answer, a person
    "Which of them came out in 2014?",  # narrows the last answers
    "Who composed its music?",  # "its": that one film
]


def ask(workspace: Path) -> None:
    with Agent.open(workspace) as agent:
        print(f"\n== index\n{agent.index(progress=True)}")
        if not (workspace / "runs" / "train.json").is_file():
            print("\n== train on questions synthesized from the graph (no QA data; once)")
            report = agent.train(
                questions=400, reader_steps=12, reader_batch_size=4, policy_budget=30,
                progress=True,
            )  # fmt: skip
            print(report)
        for a, q in zip(agent.ask_batch(QUESTIONS), QUESTIONS, strict=True):
            print(f"\n== ask: {q}\n{a.text}")
            if not a.abstained:
                print(f"   confidence {a.confidence:.2f}")
            for i, f in enumerate(a.facts[:6], 1):
                print(f"   [{i}] {f.text}")
            if len(a.facts) > 6:
                print(f"   ... {len(a.facts) - 6} more cited facts")
            if a.sparql is not None:  # the query that returns the same answer from the store
                print(
                    f"   {a.kind}; SPARQL:\n"
                    + "\n".join(f"     {line}" for line in a.sparql.splitlines())
                )
        talk = agent.conversation()
        print("\n== a conversation (kgagent chat WORKSPACE does this at a prompt)")
        for q in TALK:
            a = talk.ask(q)
            print(f"> {q}\n{a.text}")
            if a.context is not None:
                print(f"   read as: {' / '.join(a.context['asked'])}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "workspaces" / "demo")
