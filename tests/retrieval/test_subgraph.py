"""Graph expansion over CSR arrays: k-hop, shortest paths, executing relation paths."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.kg.adjacency import Adjacency
from kgagent.retrieval.subgraph import Hop, k_hop, paths_between, relation_paths

# 0 -r0-> 1 -r1-> 2 -r0-> 3 ; 0 -r1-> 4 ; 4 -r0-> 3 ; hub 5 -r2-> 6..105
EDGES = [(0, 0, 1), (1, 1, 2), (2, 0, 3), (0, 1, 4), (4, 0, 3)] + [(5, 2, t) for t in range(6, 106)]


@pytest.fixture
def adj() -> Adjacency:
    return Adjacency.from_triples(np.array(EDGES), num_entities=106, num_relations=3)


def test_k_hop_distances(adj):
    assert k_hop(adj, [0], hops=1) == {0: 0, 1: 1, 4: 1}
    assert k_hop(adj, [0], hops=2) == {0: 0, 1: 1, 4: 1, 2: 2, 3: 2}


def test_k_hop_fanout_cap_and_inverse(adj):
    got = k_hop(adj, [5], hops=1, fanout=10)
    assert len(got) == 11  # the seed and ten of its hundred neighbours
    inv = adj.with_inverse()
    assert k_hop(inv, [3], hops=1) == {3: 0, 2: 1, 4: 1}  # walked backwards


def test_shortest_paths(adj):
    paths = paths_between(adj, 0, [3], max_len=3)
    assert [[(h.head, h.relation, h.tail) for h in p] for p in paths] == [[(0, 1, 4), (4, 0, 3)]]
    assert paths_between(adj, 0, [5], max_len=3) == []
    assert paths_between(adj, 0, [0]) == []


def test_relation_paths_execute_a_plan(adj):
    walks = relation_paths(adj, 0, [0, 1])
    assert walks == [[Hop(0, 0, 1), Hop(1, 1, 2)]]
    assert relation_paths(adj, 0, [2]) == []
    assert len(relation_paths(adj, 5, [2], max_results=7)) == 7


def test_relation_paths_return_to_the_source_only_on_the_last_hop(adj):
    inv = adj.with_inverse()  # r + 3 walks r backwards
    # 0 -r0-> 1 -r0^-1-> 0: "the spouse of X's husband" is X
    assert relation_paths(inv, 0, [0, 3]) == []
    assert relation_paths(inv, 0, [0, 3], return_to_source=True) == [[Hop(0, 0, 1), Hop(1, 3, 0)]]
    # never *through* the source: 0 -> 1 -> 0 -> 4 stays out
    assert relation_paths(inv, 0, [0, 3, 1], return_to_source=True) == []
