"""Typed questions over a team: the :class:`~kgagent.programs.graph.ProgramGraph` of the
members' graphs federated.

"How many films did X direct?" where the films are in one member's graph and X in
another's runs the same program as on one graph: the walk steps through every member's
edges in team ids (the federation's), and values come from the members that hold them —
each member builds its own value table of a relation once (in its own process, for a Ray
actor) and sends its rows; the team maps their holders and entity values to team ids.
Facts are asked of their members only for what an answer cites, stamped with the member
and its graph.

Edge and fact references carry their member: ``member * span + local reference``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgagent.kg.terms import iri_of
from kgagent.pipeline.execute import EdgeKeys
from kgagent.programs.values import ValueTable
from kgagent.types import Fact

__all__ = ["FederatedProgramGraph"]


class FederatedProgramGraph:
    """The team's :class:`~kgagent.programs.graph.ProgramGraph`.

    Args:
        federation: the team's :class:`~kgagent.team.federation.Federation`.
        members: its members (their ``submit`` requests), in federation order.
    """

    def __init__(self, federation, members: Sequence[Any]) -> None:
        self.fed = federation
        self.members = list(members)
        self.keys = [EdgeKeys(e.adj) for e in federation.edges]
        #: a reference's member is ``ref // span`` (2^40: beyond any edge or fact row)
        self.span = 1 << 40
        self.relation_index = {t: i for i, t in enumerate(federation.relation_terms)}
        self._tables: dict[tuple[str, bool], ValueTable] = {}
        self._lock = threading.Lock()

    # -- ProgramGraph -----------------------------------------------------------------------

    def node(self, iri: str) -> int | None:
        return self.fed.team_id(f"<{iri}>")

    def action(self, relation: str, inverse: bool) -> int | None:
        r = self.relation_index.get(f"<{relation}>")
        if r is None:
            return None
        return r + self.fed.num_relations if inverse else r

    def step(self, nodes: np.ndarray, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every member's edges of ``action`` out of ``nodes`` (team ids): (source
        position, tail, reference) per edge; two members holding one fact give it twice,
        which the executor's set operations absorb."""
        wheres, tails, refs = [], [], []
        for m, (keys, edges) in enumerate(zip(self.keys, self.fed.edges, strict=True)):
            lo, hi = keys.ranges(nodes, action)  # (N,) CSR range of each node's edges
            counts = hi - lo
            where = np.repeat(np.arange(len(nodes)), counts)  # (n,) source position
            first = np.cumsum(counts) - counts
            e = lo[where] + np.arange(int(counts.sum())) - first[where]  # (n,) CSR index
            wheres.append(where)
            tails.append(edges.adj.targets[e])
            refs.append(m * self.span + e)
        return (np.concatenate(wheres).astype(np.int64), np.concatenate(tails).astype(np.int64),
                np.concatenate(refs).astype(np.int64))  # fmt: skip

    def values(self, relation: str, inverse: bool) -> ValueTable:
        key = (relation, bool(inverse))
        with self._lock:
            table = self._tables.get(key)
        if table is None:
            table = self._value_table(relation, bool(inverse))
            with self._lock:
                table = self._tables.setdefault(key, table)
        return table

    def entities(self, nodes: np.ndarray) -> list[tuple[str, str]]:
        fed = self.fed
        return [
            (iri_of(fed.entity_terms[n]), fed.entity_labels[n]) for n in np.asarray(nodes).tolist()
        ]

    def edge_facts(self, edges: np.ndarray) -> list[Fact | None]:
        """The facts behind edge references, asked of each member once."""
        edges = np.asarray(edges, dtype=np.int64)
        out: list[Fact | None] = [None] * len(edges)
        for m, idx in self._by_member(edges):
            local = self.fed.edges[m].local[edges[idx] % self.span]  # (n, 3) member's ids
            batch = self.members[m].submit("facts", local).result()
            for i, f in zip(idx.tolist(), batch.facts, strict=True):
                out[i] = f
        return out

    def value_facts(self, refs: np.ndarray) -> list[Fact | None]:
        refs = np.asarray(refs, dtype=np.int64)
        out: list[Fact | None] = [None] * len(refs)
        for m, idx in self._by_member(refs):
            local = (refs[idx] % self.span).tolist()
            batch = self.members[m].submit("program_value_facts", local).result()
            for i, f in zip(idx.tolist(), batch.facts, strict=True):
                out[i] = f
        return out

    # -- helpers ----------------------------------------------------------------------------

    def _by_member(self, refs: np.ndarray):
        """(member, positions in ``refs``) of every member some reference belongs to."""
        members = np.where(refs >= 0, refs // self.span, -1)
        for m in np.unique(members[members >= 0]).tolist():
            yield int(m), np.flatnonzero(members == m)

    def _value_table(self, relation: str, inverse: bool) -> ValueTable:
        """Every holding member's rows of ``relation``, in team ids: a holder or entity
        value a member holds maps through the federation; an entity value's term becomes
        the team's, so one film under two members' IRIs is one value."""
        r = self.relation_index.get(f"<{relation}>")
        if r is None:
            return ValueTable.empty()
        fed = self.fed
        holding = list(fed.holders[r])
        futures = [self.members[m].submit("program_values", relation, inverse) for m in holding]
        parts: dict[str, list] = {k: [] for k in ("holder", "node", "term", "text", "datatype",
                                                  "display", "ref")}  # fmt: skip
        for m, future in zip(holding, futures, strict=True):
            rows = future.result()
            if not len(rows["holder"]):
                continue
            to_team = fed.to_team[m]
            node = np.asarray(rows["node"], dtype=np.int64)
            team_node = np.where(node >= 0, to_team[np.maximum(node, 0)], -1)
            term = np.asarray(rows["term"], dtype=object).copy()
            entity = team_node >= 0
            term[entity] = [fed.entity_terms[n] for n in team_node[entity].tolist()]
            parts["holder"].append(to_team[np.asarray(rows["holder"], dtype=np.int64)])
            parts["node"].append(team_node)
            parts["term"] += term.tolist()
            parts["text"] += list(rows["text"])
            parts["datatype"] += list(rows["datatype"])
            parts["display"] += list(rows["display"])
            parts["ref"].append(m * self.span + np.asarray(rows["ref"], dtype=np.int64))
        if not parts["holder"]:
            return ValueTable.empty()
        return ValueTable.build(
            holder=np.concatenate(parts["holder"]),
            node=np.concatenate(parts["node"]),
            term=parts["term"],
            text=parts["text"],
            datatype=parts["datatype"],
            display=parts["display"],
            ref=np.concatenate(parts["ref"]),
        )
