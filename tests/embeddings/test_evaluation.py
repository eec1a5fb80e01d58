"""Filtered ranking against a brute-force reference, ties included."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from kgagent.embeddings import FilterIndex, evaluate
from kgagent.embeddings.evaluation import rank_triples


class TableModel(nn.Module):
    """Scores from fixed tables: tail[h, r, e] and head[r, t, e] (ties on purpose)."""

    def __init__(self, num_entities: int, num_relations: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.num_entities, self.num_relations = num_entities, num_relations
        # few distinct values -> many ties
        self.tail = torch.randint(0, 4, (num_entities, num_relations, num_entities), generator=g)
        self.head = torch.randint(0, 4, (num_relations, num_entities, num_entities), generator=g)

    def score_t(self, h, r):
        return self.tail[h, r].float()

    def score_h(self, r, t):
        return self.head[r, t].float()


def brute_force_ranks(model, triples, known):
    """Filtered (optimistic, pessimistic) ranks by definition, one entity at a time."""
    known = {tuple(x) for x in known.tolist()}
    out = []
    for h, r, t in triples.tolist():
        for side in ("head", "tail"):
            scores = (
                model.score_h(torch.tensor([r]), torch.tensor([t]))[0]
                if side == "head"
                else (model.score_t(torch.tensor([h]), torch.tensor([r]))[0])
            )
            target = h if side == "head" else t
            s_true = scores[target]
            better = ties = 0
            for e in range(model.num_entities):
                cand = (e, r, t) if side == "head" else (h, r, e)
                if e == target or cand in known:
                    continue
                better += int(scores[e] > s_true)
                ties += int(scores[e] == s_true)
            out.append((side, 1 + better, 1 + better + ties))
    return out


@pytest.fixture
def graph():
    rng = np.random.default_rng(0)
    triples = np.unique(rng.integers(0, [7, 3, 7], size=(40, 3)), axis=0)
    return triples


@pytest.mark.parametrize("max_scores", [1, 7, 1 << 20])  # 1: one triple per batch
def test_filtered_ranks_match_brute_force(graph, max_scores):
    model = TableModel(7, 3)
    test = graph[:15]
    index = FilterIndex(graph, num_entities=7, num_relations=3)
    res = rank_triples(model, test, filter_index=index, max_scores=max_scores)
    ref = brute_force_ranks(model, test, graph)
    heads = [(o, p) for side, o, p in ref if side == "head"]
    tails = [(o, p) for side, o, p in ref if side == "tail"]
    np.testing.assert_array_equal(res.head[:, :2].numpy(), np.array(heads))
    np.testing.assert_array_equal(res.tail[:, :2].numpy(), np.array(tails))
    # realistic = mean of optimistic and pessimistic
    np.testing.assert_allclose(res.tail[:, 2].numpy(), np.array(tails).mean(1))


def test_constant_scores_give_the_expected_rank_not_one():
    class Constant(TableModel):
        def score_t(self, h, r):
            return torch.zeros(len(h), self.num_entities)

        def score_h(self, r, t):
            return torch.zeros(len(r), self.num_entities)

    triples = np.array([[0, 0, 1], [2, 0, 3]])
    m = evaluate(Constant(10, 1), triples)
    # nothing filtered but the target: 9 ties -> ranks 1..10, realistic 5.5
    assert m["mean_rank"] == pytest.approx(5.5)
    assert m["optimistic"]["mean_rank"] == 1.0
    assert m["pessimistic"]["mean_rank"] == 10.0
    assert m["mrr"] == pytest.approx(1 / 5.5)


def test_a_target_scored_minus_inf_ties_with_every_unreached_entity():
    """A path policy gives -inf to what no walk reaches: such a target must share the
    rank of all of them (-inf - -inf is NaN, which once gave it the best rank after the
    reached entities), and filtered answers still leave the race."""

    class Reach(TableModel):
        def score_t(self, h, r):
            s = torch.full((len(h), self.num_entities), float("-inf"))
            s[:, 4] = 1.0  # the only entity reached; 0, 1, 2, 3, 5 are not
            return s

        def score_h(self, r, t):
            return self.score_t(t, r)

    known = np.array([[0, 0, 5]])  # another true tail: filtered, unreached
    m = evaluate(Reach(6, 1), np.array([[0, 0, 1]]), filter_triples=known)
    # both sides alike: 1 entity above the target, ties with 0, 2, 3 (5 filtered; the
    # head side filters nothing but the target: 4 ties) -> tail ranks 2..5, realistic 3.5
    assert m["tail"]["mrr"] == pytest.approx(1 / 3.5)
    assert m["optimistic"]["mean_rank"] == 2.0
    assert m["pessimistic"]["mean_rank"] == pytest.approx((5 + 6) / 2)


def test_filter_removes_other_true_answers():
    class Fixed(TableModel):
        def score_t(self, h, r):
            s = torch.zeros(len(h), self.num_entities)
            s[:, 2] = 5.0  # a known true tail scores highest
            s[:, 1] = 4.0  # the target
            return s

        def score_h(self, r, t):
            s = torch.zeros(len(r), self.num_entities)
            s[:, 0] = 1.0
            return s

    known = np.array([[0, 0, 2]])
    test = np.array([[0, 0, 1]])
    filtered = evaluate(Fixed(5, 1), test, filter_triples=known)
    raw = evaluate(Fixed(5, 1), test)
    assert filtered["tail"]["mrr"] == 1.0
    assert raw["tail"]["mrr"] == 0.5
    assert filtered["head"]["hits_at_1"] == 1.0
    assert set(filtered) >= {"mrr", "hits_at_1", "hits_at_3", "hits_at_10", "head", "tail"}


def test_mask_coordinates_list_every_known_answer(graph):
    index = FilterIndex(graph, num_entities=7, num_relations=3)
    h, r = torch.tensor([0, 3, 6]), torch.tensor([1, 2, 0])
    rows, cols = index.mask_coordinates(h, r, tail=True)
    got = {(int(i), int(c)) for i, c in zip(rows, cols, strict=True)}
    want = {
        (i, int(t))
        for i, (hh, rr) in enumerate(zip(h, r, strict=True))
        for (a, b, t) in graph
        if a == hh and b == rr
    }
    assert got == want
