"""The kgagent demo: a movie ontology loaded, reasoned over, validated and queried.

Run with ``make demo`` (or ``python examples/demo.py [WORKSPACE]``). The workspace is
re-used across runs: loading the same file again replaces its source, and reasoning
replaces the previous inferences, so the demo is idempotent.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from rdflib import Literal

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
    print(f"\ndemo finished in {time.perf_counter() - t0:.1f}s; workspace: {workspace}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "workspaces" / "demo")
