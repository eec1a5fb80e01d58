"""Question synthesis over a team: chains that cross from one member's graph into another's.

A team whose members split a domain (people in one graph, films in another) is asked
questions whose chains cross graphs: "what genres are the films directed by X" walks
``directed by`` in one member and ``has genre`` in the other. Questions synthesized per
member never cross, so a team policy trained on them never learns to. Here the members'
graphs are joined in the federation's ids (entities matched as the team matches them)
and sampled as one :class:`~kgagent.synth.chains.ChainGraph`; the phrasing reads the
members' ontologies united.

Each member sends its ontology, its schema nodes and its literal facts once
(:meth:`~kgagent.team.member.LocalMember.synth_parts`); the edges are the federation's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["team_synth_inputs"]


def team_synth_inputs(team: Any):
    """(chain graph, united ontology, team relation terms) for
    :func:`kgagent.synth.synthesize_report` over ``team``'s federated graphs."""
    from kgagent.kg.ontology import Ontology
    from kgagent.synth.chains import assemble_chain_graph

    fed = team.federation
    N = fed.num_entities
    parts = [f.result() for f in [m.submit("synth_parts") for m in team.members]]
    schema = np.zeros(N, dtype=bool)
    lit_heads, lit_acts, lit_values = [], [], []
    for m, (_, local_schema, literals) in enumerate(parts):
        to_team = fed.to_team[m]
        schema[to_team[np.flatnonzero(local_schema)]] = True
        heads, rels, values, codes = literals
        team_rel = fed.rel_to_team[m][np.asarray(rels, dtype=np.int64)]
        ok = team_rel >= 0
        lit_heads.append(to_team[np.asarray(heads, dtype=np.int64)[ok]])
        lit_acts.append(team_rel[ok])
        lit_values.append(np.asarray(values, dtype=object)[np.asarray(codes)[ok]])
    values = np.concatenate(lit_values) if lit_values else np.zeros(0, dtype=object)
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    heads, acts, tails = _edges(fed)
    graph = assemble_chain_graph(
        heads=heads,
        actions=acts,
        tails=tails,
        entity_terms=fed.entity_terms,
        entity_labels=fed.entity_labels,
        relation_terms=fed.relation_terms,
        schema=schema,
        literals=(
            np.concatenate(lit_heads).astype(np.int64),
            np.concatenate(lit_acts).astype(np.int64),
            np.asarray(uniques, dtype=object),
            np.asarray(codes, dtype=np.int64),
        ),
    )
    return graph, Ontology.union([p[0] for p in parts]), list(fed.relation_terms)


def _edges(fed) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E,) heads, actions, tails of every member's edges in team ids, both directions,
    each edge once (two members holding one fact give one edge)."""
    rows = []
    for e in fed.edges:
        adj = e.adj
        heads = np.repeat(np.arange(adj.num_entities, dtype=np.int64), np.diff(adj.indptr))
        rows.append(np.stack([heads, adj.relations.astype(np.int64),
                              adj.targets.astype(np.int64)], axis=1))  # fmt: skip
    edges = np.unique(np.concatenate(rows), axis=0) if rows else np.zeros((0, 3), np.int64)
    return edges[:, 0], edges[:, 1], edges[:, 2]
