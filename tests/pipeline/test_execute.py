"""execute_chain: every walk of a step at once, the same answers as walking edge by edge."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.kg.adjacency import Adjacency
from kgagent.pipeline.execute import EdgeKeys, execute_chain
from kgagent.retrieval.subgraph import relation_paths


def _graph(seed: int, n: int = 60, e: int = 400, r: int = 3) -> Adjacency:
    rng = np.random.default_rng(seed)
    triples = np.stack([rng.integers(0, n, e), rng.integers(0, r, e), rng.integers(0, n, e)], 1)
    triples = triples[triples[:, 0] != triples[:, 2]]
    return Adjacency.from_triples(triples, num_entities=n, num_relations=r).with_inverse()


def _by_loop(adj: Adjacency, topic: int, actions, back: bool) -> dict[int, list[int]]:
    """The reference: relation_paths, first walk per answer, as CSR edge indices."""
    out: dict[int, list[int]] = {}
    for walk in relation_paths(adj, topic, actions, max_results=10**9, return_to_source=back):
        tail = walk[-1].tail
        if tail == topic and not back:
            continue
        edges = []
        for h in walk:
            lo, hi = adj.indptr[h.head], adj.indptr[h.head + 1]
            rows = np.flatnonzero(
                (adj.relations[lo:hi] == h.relation) & (adj.targets[lo:hi] == h.tail)
            )
            edges.append(int(lo + rows[0]))
        out.setdefault(tail, edges)
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("back", [False, True])
def test_the_same_answers_and_walks_as_walking_edge_by_edge(seed, back):
    adj = _graph(seed)
    keys = EdgeKeys(adj)
    rng = np.random.default_rng(100 + seed)
    for _ in range(20):
        topic = int(rng.integers(0, adj.num_entities))
        actions = tuple(int(a) for a in rng.integers(0, adj.num_relations, rng.integers(1, 4)))
        got = execute_chain([keys], topic, actions, max_walks=10**9, back=back)
        want = _by_loop(adj, topic, actions, back)
        assert got.total == len(want)
        assert list(got.walks) == list(want)  # same answers, in the same order
        assert {t: [e for _, e in w] for t, w in got.walks.items()} == want
        first = execute_chain([keys], topic, actions, max_walks=10**9, back=back, keep=2)
        assert first.total == len(want) and list(first.walks) == list(want)[:2]


def test_members_are_walked_in_order_and_walks_are_capped():
    a, b = _graph(1), _graph(2)
    keys = [EdgeKeys(a), EdgeKeys(b)]
    both = execute_chain(keys, 0, (0, 1), max_walks=10**9).walks
    assert {m for walk in both.values() for m, _ in walk} <= {0, 1}
    capped = execute_chain(keys, 0, (0, 1), max_walks=5).walks
    assert 0 < len(capped) <= 5 and list(capped) == [t for t in both if t in capped][: len(capped)]
    for tail, walk in capped.items():  # every hop is a real edge of its member
        node = 0
        for (m, e), action in zip(walk, (0, 1), strict=True):
            adj = (a, b)[m]
            assert adj.indptr[node] <= e < adj.indptr[node + 1] and adj.relations[e] == action
            node = int(adj.targets[e])
        assert node == tail


def test_a_chain_that_reaches_nothing_is_empty():
    adj = _graph(3)
    assert execute_chain([EdgeKeys(adj)], 0, (99,), max_walks=10).total == 0
