"""Unit tests of the question pipeline's components on a tiny graph (hashing encoder,
no LLM): relevance, planner, policy proposer, candidate builder, and the pipeline's own
steps (anchors, masking, ordering)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from kgagent.agents import Agent
from kgagent.config import AgentConfig, LLMConfig, RetrievalConfig
from kgagent.pipeline import (
    Anchor,
    CandidateBuilder,
    Mention,
    PolicyProposer,
    Proposal,
    QuestionPipeline,
    RelationRelevance,
    mask_mention,
)
from kgagent.pipeline.proposers import chain_score, likely
from kgagent.workspace import Workspace

CONFIG = AgentConfig(retrieval=RetrievalConfig(encoder="hashing"), llm=LLMConfig(backend="none"))


@pytest.fixture(scope="module")
def agent(tmp_path_factory, data_dir):
    ws = Workspace(tmp_path_factory.mktemp("pipe") / "ws").init(config=CONFIG)
    with ws.open_kg() as kg:
        kg.load_triples(data_dir / "tiny_kb.txt")
    a = Agent.open(ws.root)
    a.index()
    yield a
    a.close()


@pytest.fixture(scope="module")
def r(agent):
    return agent.retriever


def _action(r, name: str, inverse: bool = False) -> int:
    rid = next(i for i, t in enumerate(r.relation_terms) if t.endswith(f"/{name}>"))
    return rid + len(r.relation_terms) if inverse else rid


def _node(r, label: str) -> int:
    return next(i for i, t in enumerate(r.entity_terms) if r.label(t[1:-1]) == label)


# -- relevance ---------------------------------------------------------------------------


def test_relevance_adds_the_stem_overlap_to_the_cosine():
    vectors = np.eye(2, 4, dtype=np.float32)  # (2R, d) with R = 1
    rel = RelationRelevance(["directed by", "director of"], vectors, lexical=0.5)
    q = np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32)
    scores = rel.scores("who directed Titanic", q)  # (2,)
    assert scores.shape == (2,)
    assert scores[0] == pytest.approx(1.0 + 0.5)  # cosine 1, "direct" is all of "directed by"
    assert scores[1] == pytest.approx(0.0 + 0.5)  # "director of": only "direct" counts
    assert rel.scores("what year", q)[0] == pytest.approx(1.0)  # no overlap


# -- planner -----------------------------------------------------------------------------


def test_the_planner_ranks_chains_by_mean_relevance_and_never_returns_to_the_topic(r):
    planner = r.pipeline.planner
    nolan = _node(r, "Christopher Nolan")
    rel = np.zeros(2 * len(r.relation_terms), dtype=np.float32)
    films_of = _action(r, "directed_by", inverse=True)
    year = _action(r, "release_year")
    rel[films_of], rel[year] = 1.0, 0.8
    plans = planner.plan(rel, nolan)
    assert plans[0] == (1.0, (films_of,))
    assert (pytest.approx(0.9), (films_of, year)) in [(pytest.approx(s), p) for s, p in plans]
    scores = [s for s, _ in plans]
    assert scores == sorted(scores, reverse=True)
    # "directed_by" back from a film reaches only Nolan again: that chain is not planned
    assert (films_of, _action(r, "directed_by")) not in [p for _, p in plans]


def test_the_planner_proposes_multi_hop_chains_only(r):
    planner = r.pipeline.planner
    nolan = _node(r, "Christopher Nolan")
    rel = np.zeros(2 * len(r.relation_terms), dtype=np.float32)
    rel[_action(r, "directed_by", inverse=True)] = 1.0
    (found,) = planner.propose([Anchor(0, nolan, 0.9)], [rel])
    assert found and all(len(p.actions) >= 2 for p in found)
    for p in found:
        assert p.score == pytest.approx(chain_score(planner.linked, 0.9, rel, p.actions))


# -- candidates --------------------------------------------------------------------------


def test_a_chain_candidate_has_the_complete_answer_set_and_a_fact_per_hop(r):
    nolan = _node(r, "Christopher Nolan")
    actions = (_action(r, "directed_by", inverse=True), _action(r, "release_year"))
    (c,) = r.pipeline.candidates.execute([Proposal(Anchor(0, nolan, 1.0), actions, 0.7)])
    assert sorted(label for _, label in c.answers) == ["2010", "2014"]
    assert c.total == 2 and c.score == 0.7 and c.prior is None
    assert c.inverse == (True, False) and c.topic_label == "Christopher Nolan"
    for (_, label), facts in zip(c.answers, c.support, strict=True):
        assert len(facts) == 2 and facts[-1].object_label == label


def test_a_chain_that_reaches_nothing_is_no_candidate(r):
    year = _node(r, "2010")
    proposal = Proposal(Anchor(0, year, 1.0), (_action(r, "directed_by"),), 0.0)
    assert r.pipeline.candidates.execute([proposal]) == [None]


def test_candidates_put_the_policy_first_and_keep_one_other(r):
    g = r.pipeline.graph
    builder = CandidateBuilder(g, max_answers=100, walks_per_answer=20, topic_answers=False,
                               max_candidates=12, others_with_policy=1)  # fmt: skip
    titanic = _node(r, "Titanic")
    rel = np.zeros(2 * len(r.relation_terms), dtype=np.float32)
    rel[_action(r, "release_year")] = 2.0  # the best one-hop candidate by far
    anchor = Anchor(0, titanic, 1.0)
    walk = Proposal(anchor, (_action(r, "directed_by"),), -5.0, prior=-0.1)
    without = builder.build(1, [anchor], [rel], [[]], [[]])[0]
    assert without[0].relation_labels == (g.relation_texts[_action(r, "release_year")],)
    assert len(without) == len({(c.relations, c.inverse) for c in without}) >= 3
    with_policy = builder.build(1, [anchor], [rel], [[walk]], [[]])[0]
    assert len(with_policy) == 2  # the policy's walk, then the best of the rest
    assert with_policy[0].prior == -0.1 and with_policy[1].prior is None
    assert with_policy[1].relations == without[0].relations


def test_a_policy_walk_of_the_wrong_answer_type_is_ranked_with_the_rest(r):
    """A question asking "when" that the policy sends to the cast: its walk loses the
    policy prior and competes by score, so the chain reaching the year answers."""
    from kgagent.pipeline.ranker import fits_answer_type

    g = r.pipeline.graph
    builder = CandidateBuilder(g, max_answers=100, walks_per_answer=20, topic_answers=False,
                               max_candidates=12, others_with_policy=1)  # fmt: skip
    titanic = _node(r, "Titanic")
    rel = np.zeros(2 * len(r.relation_terms), dtype=np.float32)
    rel[_action(r, "release_year")] = 2.0
    anchor = Anchor(0, titanic, 1.0)
    walk = Proposal(anchor, (_action(r, "directed_by"),), -5.0, prior=-0.1)
    question = "when did Titanic hit theaters"
    got = builder.build(1, [anchor], [rel], [[walk]], [[]],
                        fits=lambda i, c: fits_answer_type(question, c))[0]  # fmt: skip
    assert all(c.prior is None for c in got)  # nothing the policy proposed is left
    assert got[0].relation_labels == (g.relation_texts[_action(r, "release_year")],)
    asked = "who directed Titanic"  # a question without an expected type keeps the walk
    kept = builder.build(1, [anchor], [rel], [[walk]], [[]],
                         fits=lambda i, c: fits_answer_type(asked, c))[0]  # fmt: skip
    assert kept[0].prior == -0.1


# -- policy proposer ---------------------------------------------------------------------


@dataclass
class _Beam:
    actions: tuple[int, ...]
    logp: float


class _FakeReasoner:
    def __init__(self, beams):
        self.beams, self.queries = beams, []

    def beam_search(self, queries, *, beam):
        self.queries += queries
        return [list(self.beams) for _ in queries]


def test_the_policy_proposer_keeps_likely_walks_with_their_log_probability():
    beams = [_Beam((0, 1), np.log(0.7)), _Beam((2,), np.log(0.295)), _Beam((3,), np.log(0.005))]
    reasoner = _FakeReasoner(beams)
    proposer = PolicyProposer(reasoner, beam=8, options=4, min_share=0.01, linked=0.5)
    rel = np.arange(8, dtype=np.float32)
    vec = np.ones(3, dtype=np.float32)
    (found,) = proposer.propose([Anchor(0, 5, 0.6, vec, allowed=None)], [rel])
    assert [p.actions for p in found] == [(0, 1), (2,)]  # the 0.5% walk is dropped
    assert found[0].prior == pytest.approx(np.log(0.7))
    assert found[0].score == pytest.approx(chain_score(0.5, 1.0, rel, (0, 1)))
    assert reasoner.queries[0].start == 5 and reasoner.queries[0].query is vec
    assert likely([], 4, 0.01) == []


# -- the pipeline's own steps ------------------------------------------------------------


@dataclass
class _Entity:
    iri: str
    score: float
    start: int
    end: int


class _Linker:
    def __init__(self, mentions):
        self.mentions = mentions

    def link(self, questions):
        return [list(self.mentions) for _ in questions]


class _Encoder:
    def __init__(self):
        self.texts = []

    def encode(self, texts):
        self.texts += list(texts)
        return np.ones((len(texts), 4), dtype=np.float32)


def _pipeline(r, mentions, policy=None):
    encoder = _Encoder()
    p = r.pipeline
    pipe = QuestionPipeline(linker=_Linker(mentions), encoder=encoder, graph=p.graph,
                            relevance=RelationRelevance(p.relevance.texts,
                                                        np.zeros_like(p.relevance.vectors[:, :4]),
                                                        lexical=0.5),
                            planner=p.planner, candidates=p.candidates, policy=policy,
                            link_min=0.5, max_anchors=2)  # fmt: skip
    return pipe, encoder


def test_anchors_are_one_per_mention_span_linked_well_enough(r):
    titanic, inception, nolan = (_node(r, x) for x in ("Titanic", "Inception", "Christopher Nolan"))
    mentions = [
        Mention(titanic, _Entity("t", 0.9, 0, 7)),
        Mention(inception, _Entity("i", 0.8, 0, 7)),  # the same words: not a second topic
        Mention(None, _Entity("x", 0.95, 9, 12)),  # not in the graph
        Mention(nolan, _Entity("n", 0.4, 13, 20)),  # linked too weakly
    ]
    pipe, _ = _pipeline(r, mentions)
    assert [a[0] for a in pipe._anchors(mentions)] == [titanic]
    mentions.append(Mention(nolan, _Entity("n", 0.7, 21, 28)))
    assert [a[0] for a in pipe._anchors(mentions)] == [titanic, nolan]


def test_the_policy_reads_the_question_with_its_topic_masked(r):
    titanic = _node(r, "Titanic")
    reasoner = _FakeReasoner([])
    policy = PolicyProposer(reasoner, beam=4, options=4, min_share=0.01, linked=0.5)
    q = "who directed [Titanic]"
    pipe, encoder = _pipeline(r, [Mention(titanic, _Entity("t", 1.0, 13, 22))], policy)
    (ev,) = pipe.evidence([q])
    assert encoder.texts == ["who directed Titanic", "who directed NE"]
    assert mask_mention(q, 13, 22) == "who directed NE"
    assert len(reasoner.queries) == 1 and reasoner.queries[0].start == titanic
    assert ev.candidates  # one-hop candidates still come from the graph


def test_an_empty_question_gets_empty_evidence(r):
    pipe, _ = _pipeline(r, [])
    evs = pipe.evidence(["", "   "])
    assert [ev.question for ev in evs] == ["", ""] and not any(ev.candidates for ev in evs)


def test_the_planner_is_the_fallback_when_the_policy_proposes_nothing(r):
    titanic = _node(r, "Titanic")
    mention = [Mention(titanic, _Entity("t", 1.0, 13, 20))]
    walk = _Beam((_action(r, "directed_by"), _action(r, "directed_by", inverse=True)), 0.0)
    sure = PolicyProposer(_FakeReasoner([walk]), beam=4, options=4, min_share=0.01, linked=0.5)
    pipe, _ = _pipeline(r, mention, sure)
    anchors = [Anchor(0, titanic, 1.0, np.ones(4, dtype=np.float32))]
    rel = [np.ones(2 * len(r.relation_terms), dtype=np.float32)]
    policy, planned = pipe._propose(anchors, rel)
    assert [p.actions for p in policy[0]] == [walk.actions] and planned == [[]]
    silent = PolicyProposer(_FakeReasoner([]), beam=4, options=4, min_share=0.01, linked=0.5)
    pipe, _ = _pipeline(r, mention, silent)
    policy, planned = pipe._propose(anchors, rel)
    assert policy == [[]] and planned[0]  # no walk: the planner proposes
