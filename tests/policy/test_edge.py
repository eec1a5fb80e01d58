"""MINERVA's edge walk: the action table, the query-edge mask, training, beam, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kgagent.kg.adjacency import Adjacency
from kgagent.policy import PathReasoner, PolicyConfig, PolicyError
from kgagent.policy.edge import EdgeReasoner, EdgeWalk

RELS = ["<works_at>", "<reports_to>"]


def _seniors():
    """6 firms of 5 people; everyone works at their firm and reports to its senior (the
    person p with p % 5 == 0 of the firm's block). A relation walk from x by works_at,
    works_at⁻¹ reaches all five colleagues alike; only an entity-level choice finds the
    senior. 6 reports_to edges are held out."""
    works = [(p, 0, 30 + p // 5) for p in range(30)]
    reports = [(p, 1, p - p % 5) for p in range(30) if p % 5]
    order = np.random.default_rng(0).permutation(len(reports))
    reports = [reports[i] for i in order]
    return np.array(works + reports[:-6]), np.array(reports[-6:])


def _config(**kw) -> PolicyConfig:
    base = dict(mode="relation", walk="edge", epochs=30, dim=32, max_hops=2, lr=1e-2,
                batch_size=16, rollouts=8, action_dropout=0.3, beam=16, patience=30,
                edge_entities=True, seed=0)  # fmt: skip
    return PolicyConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def seniors():
    from kgagent.policy.linkpred import train_link_prediction

    train, test = _seniors()
    reasoner, report = train_link_prediction(train, test[:0], num_entities=36, relations=RELS,
                                             config=_config())  # fmt: skip
    return reasoner, report, train, test


def test_action_table_has_no_op_first_and_every_edge_both_ways():
    adj = Adjacency.from_triples(np.array([[0, 0, 1], [0, 1, 2], [2, 0, 1]]), num_entities=3,
                                 num_relations=2)  # fmt: skip
    env = EdgeWalk(adj, max_hops=2)
    assert env.no_op == 4 and env.start_token == 5 and env.width == 3  # entity 1: 2 in-edges
    cols = zip(env.relations[1], env.targets[1], env.valid[1], strict=True)
    row = {(int(r), int(t)) for r, t, ok in cols if ok}
    assert row == {(4, 1), (2, 0), (2, 2)}  # NO_OP, works_at⁻¹ to 0 and to 2
    # (0, 0, ?): the query relation out of the start and its inverse into it are masked
    rel, ent, mask = env.actions(torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([0, 0]))
    allowed = {(int(r), int(t)) for r, t, m in zip(rel[0], ent[0], mask[0], strict=True) if m}
    assert allowed == {(4, 0), (1, 2)}
    allowed = {(int(r), int(t)) for r, t, m in zip(rel[1], ent[1], mask[1], strict=True) if m}
    assert allowed == {(4, 1), (2, 2)}  # 1 -works_at⁻¹-> 0 would walk the query edge back


def test_crowded_entities_keep_a_seeded_subset_of_their_edges():
    star = np.array([[0, 0, t] for t in range(1, 40)])
    adj = Adjacency.from_triples(star, num_entities=40, num_relations=1)
    a, b = EdgeWalk(adj, max_actions=10, seed=1), EdgeWalk(adj, max_actions=10, seed=1)
    assert a.width == 10 and int(a.valid[0].sum()) == 10 and a.dropped_edges == 30
    assert torch.equal(a.targets, b.targets)
    assert not torch.equal(a.targets, EdgeWalk(adj, max_actions=10, seed=2).targets)
    with pytest.raises(ValueError, match="NO_OP"):
        EdgeWalk(adj, max_actions=1)


def test_edge_walk_learns_which_entity_answers_where_the_set_walk_cannot(seniors):
    from kgagent.policy.linkpred import evaluate_link_prediction, train_link_prediction

    reasoner, report, train, test = seniors
    assert isinstance(reasoner, EdgeReasoner) and report["epochs"] == 30
    known = np.concatenate([train, test])
    forward = test  # (x, reports_to, ?): the senior of x's firm
    edge = evaluate_link_prediction(reasoner, forward, known=known, beam=16)
    sets, _ = train_link_prediction(train, test[:0], num_entities=36, relations=RELS,
                                    config=_config(walk="set", answer_weights="walk"))  # fmt: skip
    walk = evaluate_link_prediction(sets, forward, known=known, beam=16)
    assert edge["mrr"] >= 0.9 and edge["mrr"] > walk["mrr"] + 0.15, (edge, walk)


def test_beam_paths_end_on_one_entity_and_name_the_entities_they_pass(seniors):
    from kgagent.policy.linkpred import relation_queries

    reasoner, _, _, test = seniors
    (q,) = [q for q in relation_queries(test[:1], 2) if q.query == 1]
    paths = reasoner.beam_search([q], beam=16)[0]
    assert paths and [p.logp for p in paths] == sorted((p.logp for p in paths), reverse=True)
    for p in paths:
        assert len(p.answers) == 1 and p.weights.tolist() == [1.0]
        assert len(p.entities) == len(p.actions) and reasoner.env.no_op not in p.actions
        here = q.start
        for r, e in zip(p.actions, p.entities, strict=True):  # every step is an edge
            rels, tails = reasoner.env.adj.neighbors(here)
            assert np.any((rels == r) & (tails == e)), (here, r, e)
            here = e
        assert p.answers[0] == (p.entities[-1] if p.entities else q.start)
        assert not (p.actions and p.actions[0] == q.query)  # never the query edge itself
    assert paths[0].answers[0] == q.answers[0]
    probs = reasoner.answer_probabilities([q], beam=16)[0]
    assert probs.argmax() == q.answers[0] and 0.99 <= probs.sum() <= 1 + 1e-6


def test_edge_checkpoint_roundtrip_and_refusals(seniors, tmp_path):
    from kgagent.policy.linkpred import evaluate_link_prediction

    reasoner, _, train, test = seniors
    known = np.concatenate([train, test])
    reasoner.save(tmp_path / "p")
    loaded = PathReasoner.load(tmp_path / "p", reasoner.env.adj, RELS)
    assert isinstance(loaded, EdgeReasoner) and loaded.config.walk == "edge"
    assert evaluate_link_prediction(loaded, test, known=known) == evaluate_link_prediction(
        reasoner, test, known=known
    )
    bigger = Adjacency.from_triples(train, num_entities=40, num_relations=2)
    with pytest.raises(PolicyError, match="36 entities"):
        PathReasoner.load(tmp_path / "p", bigger, RELS)
    with pytest.raises(PolicyError, match="relation-mode"):
        PathReasoner.create(reasoner.env.adj, RELS, config=_config(mode="question"))
    with pytest.raises(PolicyError, match="walk must be"):
        PathReasoner.create(reasoner.env.adj, RELS, config=_config(walk="entity"))


def test_edge_training_is_seeded_and_shaping_rewards_near_misses():
    from kgagent.policy.linkpred import relation_queries, train_link_prediction
    from tests.policy.test_policy import _OracleKGE

    train, test = _seniors()
    kw = dict(num_entities=36, relations=RELS, config=_config(epochs=3))
    a, ra = train_link_prediction(train, test[:0], **kw)
    b, rb = train_link_prediction(train, test[:0], **kw)
    assert [h["reward"] for h in ra["history"]] == [h["reward"] for h in rb["history"]]
    for x, y in zip(a.network.state_dict().values(), b.network.state_dict().values(), strict=True):
        assert torch.equal(x, y)
    # with a KGE model, a walk that ends off the gold set earns the model's belief
    kge = _OracleKGE(np.concatenate([train, test]), 36, 2)
    shaped, report = train_link_prediction(train, test[:0], kge=kge, **kw)
    assert report["kge"] == {"reward_shaping": True, "initialised": False}
    queries = relation_queries(test, 2)  # gold: the training answers only (none held out)
    queries = [q for q in queries if q.query == 1]
    _, _, reward = shaped._rollout(queries, 4, torch.Generator().manual_seed(0))
    _, _, plain = a._rollout(queries, 4, torch.Generator().manual_seed(0))
    assert set(np.unique(plain)) <= {0.0, 1.0} and reward.min() >= 0.0


def test_without_entity_embeddings_edges_of_one_relation_are_alike():
    from kgagent.policy.edge import EdgePolicy

    train, _ = _seniors()
    env = EdgeWalk(Adjacency.from_triples(train, num_entities=36, num_relations=2))
    net = EdgePolicy(num_entities=36, num_relations=4, dim=8, hidden=8, entities=False).eval()
    cur = torch.tensor([30])  # a firm: NO_OP and five works_at⁻¹ edges
    rel, ent, mask = env.actions(cur, torch.tensor([0]), torch.tensor([1]))
    logp, _ = net.step(net.initial_state(1), torch.tensor([env.start_token]), cur,
                       torch.tensor([1]), rel, ent, mask)  # fmt: skip
    inverse = logp[0][mask[0] & (rel[0] == 2)]
    assert len(inverse) == 5 and torch.allclose(inverse, inverse[0].expand(5))
