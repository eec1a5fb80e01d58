"""The path policy: environment, REINFORCE training, beam search, checkpoints, the agent."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.kg.adjacency import Adjacency
from kgagent.policy import PathReasoner, PolicyConfig, PolicyError, Query, RelationWalk

# a small film graph: 12 films, 4 directors, 6 actors, 3 genres
# relations: 0 directed_by (film -> director), 1 starred (film -> actor), 2 genre
FILMS, DIRECTORS, ACTORS, GENRES = range(0, 12), range(12, 16), range(16, 22), range(22, 25)
RELATIONS = ["<directed_by>", "<starred>", "<genre>"]


def _graph() -> Adjacency:
    triples = []
    for f in FILMS:
        triples.append((f, 0, 12 + f % 4))
        triples.append((f, 1, 16 + f % 6))
        triples.append((f, 1, 16 + (f + 1) % 6))
        triples.append((f, 2, 22 + f % 3))
    return Adjacency.from_triples(np.array(triples), num_entities=25, num_relations=3)


def _queries(env: RelationWalk, n: int, seed: int) -> list[Query]:
    """Three kinds of question, told apart by a noisy 8-d code: a film's director
    (1 hop), an actor's films (inverse hop), an actor's directors (2 hops)."""
    rng = np.random.default_rng(seed)
    codes = np.eye(8, dtype=np.float32)[:3]
    kinds = [(list(FILMS), (0,)), (list(ACTORS), (4,)), (list(ACTORS), (4, 0))]  # 4 = starred⁻¹
    out = []
    for _ in range(n):
        k = int(rng.integers(3))
        starts, path = kinds[k]
        start = int(rng.choice(starts))
        gold = env.answers(start, path)
        vec = codes[k] + 0.1 * rng.standard_normal(8).astype(np.float32)
        out.append(Query(start, vec, gold))
    return out


@pytest.fixture(scope="module")
def trained():
    adj = _graph()
    cfg = PolicyConfig(epochs=25, batch_size=32, rollouts=8, lr=5e-3, dim=32, seed=0)
    reasoner = PathReasoner.create(adj, RELATIONS, config=cfg, query_dim=8)
    train = _queries(reasoner.env, 300, seed=1)
    report = reasoner.fit(train, _queries(reasoner.env, 60, seed=2))
    return reasoner, report


def test_environment_moves_whole_sets_and_masks_actions():
    env = RelationWalk(_graph(), max_hops=2)
    assert env.num_actions == 7 and env.stop == 6
    assert env.nodes(16, (4,)).tolist() == [0, 5, 6, 11]  # films starring actor 16
    assert env.answers(16, (4, 1)).tolist() == [17, 21]  # co-stars, not 16 itself
    mask = env.available(0, ())
    assert mask.tolist() == [True, True, True, False, False, False, True]  # no in-edges
    assert env.available(0, (0, 6)).tolist() == [False] * 6 + [True]  # stopped: stays
    assert env.available(0, (0, 3)).tolist() == [False] * 6 + [True]  # max length
    assert env.nodes(0, (0, 6)).tolist() == [12]  # STOP is a no-op
    assert env.precision(16, (4,), np.array([0, 5])) == 0.5


def test_walks_do_not_pass_through_their_start_unless_allowed():
    # film 0's actors (16, 17) -> their films {0, 1, 5, 6, 7, 11} -> those films' directors
    no, yes = RelationWalk(_graph(), max_hops=3), RelationWalk(_graph(), revisit_start=True)
    assert no.nodes(0, (1, 4)).tolist() == [1, 5, 6, 7, 11]
    assert yes.nodes(0, (1, 4)).tolist() == [0, 1, 5, 6, 7, 11]
    assert no.answers(0, (1, 4, 0)).tolist() == [13, 14, 15]  # not film 0's own director
    assert yes.answers(0, (1, 4, 0)).tolist() == [12, 13, 14, 15]
    assert PolicyConfig().revisits() is False
    assert PolicyConfig(mode="relation").revisits() is True


def test_topic_answers_let_the_last_hop_end_on_the_start():
    # film 0 -directed_by-> 12 -directed_by^-1-> films {0, 4, 8}: "films by film 0's director"
    off, on = RelationWalk(_graph()), RelationWalk(_graph(), topic_answers=True)
    assert off.answers(0, (0, 3)).tolist() == [4, 8]
    assert on.answers(0, (0, 3)).tolist() == [0, 4, 8]
    assert on.nodes(0, (0, 3)).tolist() == [4, 8]  # a walk still never passes through it
    assert on.answers(0, (0, 3, 0)).tolist() == [12]  # {4, 8}'s director; 0 not reached
    assert on.precision(0, (0, 3), np.array([0])) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="topic_answers"):
        RelationWalk(_graph(), topic_answers=True, weights="walk")


def test_walk_weights_follow_the_edges_a_random_walk_takes():
    # a -r-> b, a -r-> c, b -s-> d, c -s-> d, c -s-> e: from a by (r, s), half the walks
    # reach d through b and a quarter through c
    adj = Adjacency.from_triples(
        np.array([(0, 0, 1), (0, 0, 2), (1, 1, 3), (2, 1, 3), (2, 1, 4)]),
        num_entities=5,
        num_relations=2,
    )
    walk, uniform = RelationWalk(adj, weights="walk"), RelationWalk(adj)
    assert walk.answers(0, (0, 1)).tolist() == [3, 4]
    assert walk.answer_weights(0, (0, 1)).tolist() == [0.75, 0.25]
    assert uniform.answer_weights(0, (0, 1)).tolist() == [0.5, 0.5]
    assert walk.precision(0, (0, 1), np.array([3])) == 0.75
    assert walk.answer_weights(0, (0, 1, 4)).tolist() == [0.75, 0.25]  # STOP changes nothing
    assert PolicyConfig(mode="relation").weights() == "walk"
    assert PolicyConfig().weights() == "uniform"


def test_reinforce_learns_one_and_two_hop_walks(trained):
    reasoner, report = trained
    test = _queries(reasoner.env, 90, seed=3)
    metrics = reasoner.evaluate(test)
    assert metrics["hits_at_1"] >= 0.95, metrics
    curve = [h["reward"] for h in report["history"]]
    assert curve[-1] > curve[0] + 0.3  # it learned, from a near-random start
    assert report["train_seconds"] > 0 and report["epochs"] == len(report["history"])


def test_beam_search_ranks_walks_with_their_answers(trained):
    reasoner, _ = trained
    (q,) = [q for q in _queries(reasoner.env, 30, seed=4) if q.query[2] > 0.5][:1]
    paths = reasoner.beam_search([q], beam=4)[0]
    assert paths[0].actions == (4, 0)
    assert paths[0].answers.tolist() == q.answers.tolist()
    logps = [p.logp for p in paths]
    assert logps == sorted(logps, reverse=True) and all(lp <= 0 for lp in logps)
    assert len({p.actions for p in paths}) == len(paths)  # distinct walks


def test_save_load_roundtrip_and_vocabulary_check(trained, tmp_path):
    reasoner, report = trained
    reasoner.save(tmp_path / "p", metrics={"epochs": report["epochs"]})
    assert {f.name for f in (tmp_path / "p").iterdir()} == {
        "config.json", "weights.safetensors", "relations.json", "metrics.json"
    }  # fmt: skip
    loaded = PathReasoner.load(tmp_path / "p", _graph(), RELATIONS)
    qs = _queries(reasoner.env, 20, seed=5)
    a = [[(p.actions, round(p.logp, 5)) for p in ps] for ps in reasoner.beam_search(qs)]
    b = [[(p.actions, round(p.logp, 5)) for p in ps] for ps in loaded.beam_search(qs)]
    assert a == b
    with pytest.raises(PolicyError, match="relations"):
        PathReasoner.load(tmp_path / "p", _graph(), ["<other>", "<starred>", "<genre>"])
    (tmp_path / "p" / "weights.safetensors").write_bytes(b"not weights")
    with pytest.raises(PolicyError, match=r"weights\.safetensors: 11 bytes, config\.json says"):
        PathReasoner.load(tmp_path / "p", _graph(), RELATIONS)


def test_training_is_seeded():
    adj = _graph()
    cfg = PolicyConfig(epochs=2, batch_size=16, dim=16, seed=7)
    runs = []
    for _ in range(2):
        r = PathReasoner.create(adj, RELATIONS, config=cfg, query_dim=8)
        r.fit(_queries(r.env, 40, seed=1))
        runs.append(r.network.state_dict())
    assert all(np.array_equal(runs[0][k].numpy(), runs[1][k].numpy()) for k in runs[0])


def test_no_usable_training_query_is_a_clear_error():
    r = PathReasoner.create(_graph(), RELATIONS, config=PolicyConfig(epochs=1), query_dim=8)
    with pytest.raises(PolicyError, match="gold answer"):
        r.fit([Query(0, np.zeros(8, dtype=np.float32), np.empty(0, dtype=np.int64))])


def test_link_prediction_learns_a_rule_and_ranks_with_the_shared_evaluation():
    from kgagent.embeddings.evaluation import FilterIndex, rank_triples
    from kgagent.policy.linkpred import PolicyScorer, relation_queries, train_link_prediction

    train, test = _firm_rule()
    queries = relation_queries(train, 2)
    assert len(queries) == len({(h, r) for h, r, _ in train} | {(t, r + 2) for h, r, t in train})
    cfg = PolicyConfig(mode="relation", epochs=15, dim=32, lr=5e-3, batch_size=32, seed=0)
    reasoner, _ = train_link_prediction(
        train, test[:0], num_entities=30, relations=["<works_at>", "<colleague>"], config=cfg
    )
    scorer = PolicyScorer(reasoner, beam=16)
    known = np.concatenate([train, test])
    filt = FilterIndex(known, num_entities=30, num_relations=2)
    metrics = rank_triples(scorer, test, filter_index=filt).metrics()
    assert metrics["hits_at_1"] >= 0.9, metrics  # colleagues share a firm: a 2-hop rule
    # the query edge itself is never the first step of a walk
    (q,) = [q for q in relation_queries(test[:1], 2)][:1]
    assert all(p.actions[0] != q.query for p in reasoner.beam_search([q], beam=16)[0])


def _firm_rule():
    """colleague(x, z) <- works_at(x, y), works_at⁻¹(y, z): 6 firms x 4 people."""
    rng = np.random.default_rng(0)
    people, firms = np.arange(24), np.arange(24, 30)
    works = [(p, 0, int(firms[p % 6])) for p in people]
    colleagues = [(a, 1, b) for a in people for b in people if a != b and a % 6 == b % 6]
    colleagues = [colleagues[i] for i in rng.permutation(len(colleagues))]
    return np.array(works + colleagues[:-12]), np.array(colleagues[-12:])


class _OracleKGE:
    """A KGE stand-in that knows the truth: score +10 for true triples, -10 otherwise."""

    def __init__(self, triples: np.ndarray, num_entities: int, num_relations: int) -> None:
        import torch

        self.num_entities, self.num_relations = num_entities, num_relations
        self.truth = torch.full((num_entities, num_relations, num_entities), -10.0)
        for h, r, t in triples.tolist():
            self.truth[h, r, t] = 10.0
        g = torch.Generator().manual_seed(0)
        self.entity = torch.randn(num_entities, 6, generator=g)
        self.relation = torch.randn(num_relations, 6, generator=g)

    def score_t(self, h, r):
        return self.truth[h, r]

    def score_h(self, r, t):
        return self.truth[:, r, t].T


def test_shaped_reward_is_the_expected_lin_reward_of_a_pick_from_the_set():
    from kgagent.policy.shaping import KGEReward

    belief = np.zeros(10)
    belief[[3, 4]] = [0.5, 1.0]
    # reached {2, 3, 4, 5}, gold {2}: (1 + 0.5 + 1.0 + 0) / 4
    assert KGEReward.shaped(np.array([2, 3, 4, 5]), np.array([2]), belief) == 2.5 / 4
    assert KGEReward.shaped(np.array([], dtype=np.int64), np.array([2]), belief) == 0.0
    train, test = _firm_rule()
    kge = _OracleKGE(np.concatenate([train, test]), 30, 2)
    reward = KGEReward(kge, num_relations=2)
    p = reward.probabilities(np.array([0, 24]), np.array([1, 2]))  # colleague(0, ?), works_at⁻¹
    assert p.shape == (2, 30)
    assert set(np.flatnonzero(p[0] > 0.5)) == {6, 12, 18}  # 0's colleagues, test ones too
    assert set(np.flatnonzero(p[1] > 0.5)) == {0, 6, 12, 18}  # who works at firm 24
    # margin-trained distance models are shifted by their margin
    assert KGEReward.from_training(kge, num_relations=2, loss="nssa", margin=9.0).offset == 9.0
    assert KGEReward.from_training(kge, num_relations=2, loss="bce", margin=1.0).offset == 0.0


def test_link_prediction_with_kge_shaping_and_initialised_embeddings(tmp_path):
    from kgagent.policy.linkpred import evaluate_link_prediction, train_link_prediction

    train, test = _firm_rule()
    kge = _OracleKGE(np.concatenate([train, test]), 30, 2)
    cfg = PolicyConfig(mode="relation", epochs=15, dim=32, lr=5e-3, batch_size=32, seed=0,
                       start_entity=True)  # fmt: skip
    rels = ["<works_at>", "<colleague>"]
    reasoner, report = train_link_prediction(
        train, test[:0], num_entities=30, relations=rels, config=cfg, kge=kge
    )
    assert report["kge"] == {"reward_shaping": True, "initialised": True}
    net = reasoner.network
    assert net.entity_features.shape == (30, 6) and net.query_features.shape == (4, 12)
    assert net.action_features.shape == (5, 12)  # 2 relations each way + STOP
    known = np.concatenate([train, test])
    metrics = evaluate_link_prediction(reasoner, test, known=known, beam=16)
    assert metrics["hits_at_1"] >= 0.9, metrics
    # the feature buffers travel with the checkpoint
    reasoner.save(tmp_path / "p")
    loaded = PathReasoner.load(tmp_path / "p", reasoner.env.adj, rels)
    assert np.array_equal(loaded.network.entity_features, net.entity_features)
    assert evaluate_link_prediction(loaded, test, known=known, beam=16) == metrics
    with pytest.raises(PolicyError, match="KGE model has 30 entities and 2 relations"):
        train_link_prediction(train, test[:0], num_entities=31, relations=rels, config=cfg,
                              kge=kge)  # fmt: skip
    with pytest.raises(PolicyError, match="relation-mode"):
        from kgagent.policy.shaping import KGEReward

        PathReasoner.create(reasoner.env.adj, rels, config=PolicyConfig(),
                            reward=KGEReward(kge, num_relations=2))  # fmt: skip


def test_relation_mode_reads_the_start_entity_only_when_asked(tmp_path):
    adj = _graph()
    plain = PathReasoner.create(adj, RELATIONS, config=PolicyConfig(mode="relation"))
    assert plain.network.entity is None  # a distribution over paths per query relation
    cfg = PolicyConfig(mode="relation", start_entity=True)
    seen = PathReasoner.create(adj, RELATIONS, config=cfg)
    assert seen.network.entity.num_embeddings == 25
    seen.save(tmp_path / "p")
    assert PathReasoner.load(tmp_path / "p", adj, RELATIONS).network.entity is not None


def test_likelihood_objective_covers_every_tail_where_the_reward_picks_a_sure_one():
    from kgagent.policy.linkpred import relation_queries, train_link_prediction

    # r(h, ?) is {a, b, c}; x leads from h to a alone (precision 1), y to {a, b, c, d}
    # (precision 0.75): the expected reward is highest on x, the log-likelihood of the
    # three tails at P(y) = 8/9, since x never reaches b or c
    n = 12
    h, a, b, c, d = (np.arange(n) + k * n for k in range(5))
    x = [(i, 1, j) for i, j in zip(h, a, strict=True)]
    y = [(i, 2, j) for i, *js in zip(h, a, b, c, d, strict=True) for j in js]
    r = [(i, 0, j) for i, *js in zip(h, a, b, c, strict=True) for j in js]
    train = np.array(x + y + r)
    per_triple = relation_queries(train, 3, per_triple=True)
    assert len(per_triple) == 2 * len(train) and all(len(q.answers) == 1 for q in per_triple)
    shares = {}
    for objective in ("reward", "likelihood"):
        cfg = PolicyConfig(mode="relation", epochs=8, dim=16, lr=2e-2, batch_size=32,
                           max_hops=1, objective=objective, seed=0)  # fmt: skip
        rels = ["<r>", "<x>", "<y>"]
        reasoner, _ = train_link_prediction(train, train[:0], num_entities=5 * n,
                                            relations=rels, config=cfg)  # fmt: skip
        p = reasoner.answer_probabilities([Query(int(h[0]), 0, np.empty(0, dtype=np.int64))])
        shares[objective] = float(p[0, b[0]])  # y's share of the walk, over 4
    assert shares["reward"] < 0.08 < 0.15 < shares["likelihood"], shares
    with pytest.raises(PolicyError, match="objective must be"):
        PathReasoner.create(_graph(), RELATIONS, config=PolicyConfig(objective="mml"))
