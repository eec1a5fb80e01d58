"""Team: graph matching, routing, cross-graph answers with provenance, the team policy
(warm-started through the transfer module), joining, concurrency, Ray actors."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pytest

from kgagent import Team as TopLevelTeam
from kgagent.agents import Agent
from kgagent.agents.training import write_policy_use
from kgagent.errors import KGAgentError
from kgagent.team import Router, Team
from kgagent.team.federation import Federation
from kgagent.team.messages import MemberInfo
from tests.fakes import OverlapLM
from tests.team.conftest import FILMS_BASE, TINY_POLICY, make_member, team_questions

E = "http://kgagent.local/kg/entity/"
GENRES_OF_NOLAN = "what genres are the films directed by Christopher Nolan"
AWARD = "what award did the films starring Leonardo DiCaprio win"


@pytest.fixture(scope="module")
def trio(members, tmp_path_factory):
    """people + films + awards with a team policy trained on cross-graph questions."""
    team = Team(
        agents=[members["people"], members["films"], members["awards"]],
        workspace=tmp_path_factory.mktemp("team"),
    )
    config = dataclasses.replace(TINY_POLICY, epochs=15, batch_size=16)
    report = team.train_policy(team_questions() * 12, config=config)
    yield team, report
    team.close()


def test_graphs_are_matched_by_iri_same_as_and_label(members):
    with Team(agents=[members["people"], members["films"], members["awards"]]) as team:
        fed = team.federation
        cov = team.info()["coverage"]
        assert cov["films"]["matched_by_label"] == 4  # the four films, under other IRIs
        assert cov["awards"]["matched_by_same_as"] == 1
        titanic_people = fed.team_id(f"<{E}Titanic>")
        assert fed.team_id(f"<{FILMS_BASE}entity/Titanic>") == titanic_people
        assert fed.team_id("<http://awards.example.org/work/w1>") == titanic_people
        assert fed.entity_labels[titanic_people] == "Titanic"  # the first holder's label
        assert team.info()["relations"][FILMS_BASE + "relation/has_genre"] == ["films"]
    with Team(agents=[members["people"], members["films"]], match=("iri",)) as apart:
        ids = apart.federation.team_id
        assert ids(f"<{FILMS_BASE}entity/Titanic>") != ids(f"<{E}Titanic>")


def test_a_question_crosses_graphs_and_cites_each_members_facts(members):
    # no team policy: the chain is planned from relation relevance over both graphs
    with Team(agents=[members["people"], members["films"]]) as team:
        assert team.policy is None
        a = team.ask(GENRES_OF_NOLAN)
        assert a.labels == ["Science Fiction"]
        by_agent = {f.agent for f in a.facts}
        assert by_agent == {"people", "films"}
        for f in a.facts:
            assert f.graph.endswith(members[f.agent].kg.fingerprint())
        assert a.paths[0].text == (
            "Christopher Nolan -directed-> Inception -has genre-> Science Fiction"
        )
        record = a.to_dict()
        assert record["agents"] == ["people", "films"]
        assert {x["agent"] for x in record["facts"]} == {"people", "films"}
        assert json.dumps(record)
        # the people graph's film and the films graph's film are one entity only by label
        with Team(agents=[members["people"], members["films"]], match=("iri",)) as apart:
            assert "Science Fiction" not in apart.ask(GENRES_OF_NOLAN).labels


def test_the_router_picks_members_by_topic_and_coverage(members):
    agents = [members["people"], members["films"], members["awards"]]
    with Team(agents=agents, router=Router(top_k=4)) as team:
        route = team.route(GENRES_OF_NOLAN)
        assert team.federation.entity_labels[route.topic] == "Christopher Nolan"
        assert route.holders == (0,)
        assert route.names(team.federation) == ["people", "films"]  # awards: irrelevant
        assert len(route.coverage) == 3 and route.coverage[2] < route.coverage[0]
    with Team(agents=agents, router=Router(top_k=None)) as team:
        assert team.route(GENRES_OF_NOLAN).members == (0, 1, 2)
    with Team(agents=agents) as team:
        nothing = team.route("what is the capital of Mongolia")
        assert nothing.topic is None
        assert team.ask("what is the capital of Mongolia").abstained


def test_team_policy_is_warm_started_and_walks_across_three_graphs(trio, members):
    team, report = trio
    assert report["transfer"]["warm_start"] == "people"  # the only member with a policy
    coverage = report["transfer"]["relations"]
    assert 0 < coverage["aligned"] < coverage["target"]  # people knows some relations
    assert "valid_before_training" in report["transfer"]
    assert (team.workspace / "policy" / "default" / "weights.safetensors").exists()
    a = team.ask(AWARD)  # people (starred) -> awards, through owl:sameAs
    assert a.labels == ["Academy Award for Best Picture"]
    assert {f.agent for f in a.facts} == {"people", "awards"}
    cameron = team.ask("what genres are the films directed by James Cameron")
    assert sorted(cameron.labels) == ["Action", "Romance"]
    # the saved policy is the team's next time it forms
    again = Team(agents=[members["people"], members["films"], members["awards"]],
                 workspace=team.workspace)  # fmt: skip
    with again:  # used where it was not worse than the planned chains on held-out ones
        hits = report["answers_hits_at_1"]
        assert report["used"] == (hits["policy"] >= hits["planned"])
        assert (again.policy is not None) == report["used"]
        assert again.ask(AWARD).labels == a.labels
    policy_dir = team.workspace / "policy" / "default"
    for used in (True, False):  # the decision beside the policy is what the team reads
        write_policy_use(policy_dir, used=used, validation=hits)
        with Team(agents=[members["people"], members["films"], members["awards"]],
                  workspace=team.workspace) as again:  # fmt: skip
            assert (again.policy is not None) == used


def test_ask_batch_matches_ask_and_concurrent_asks_are_safe(trio):
    team, _ = trio
    qs = [q for q, _ in team_questions()]
    one = [team.ask(q).labels for q in qs]
    assert [a.labels for a in team.ask_batch(qs)] == one
    errors, got = [], {}

    def worker(i):
        try:
            for _ in range(3):
                got.setdefault(i, set()).add(tuple(team.ask(qs[i % len(qs)]).labels))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(got[i] == {tuple(one[i % len(qs)])} for i in range(6))


def test_a_joining_agent_warm_starts_from_a_peer(members, tmp_path):
    newcomer = make_member(tmp_path, "awards")
    with Team(agents=[members["people"], members["films"]]) as team:
        before = team.federation.num_relations
        report = team.join(newcomer, warm_start_from="people")
        assert report["warm_start_from"] == "people"
        assert report["coverage"]["relations"]["aligned"] >= 1
        assert (newcomer / "policy" / "default" / "weights.safetensors").exists()
        assert team.names == ["people", "films", "awards"]
        assert team.federation.num_relations == before + 1  # "won award"
        with pytest.raises(KGAgentError, match="no such member"):
            team.join(newcomer, warm_start_from="nobody")


def test_bad_team_input_gets_clear_errors(members, tmp_path):
    with pytest.raises(KGAgentError, match="at least one agent"):
        Team(agents=[])
    with pytest.raises(KGAgentError, match="unique"):
        Team(agents=[members["people"], members["people"]])
    with pytest.raises(KGAgentError, match="settings"):
        Team(agents=[members["people"]], settings={"decisve": 0.9})
    with pytest.raises(KGAgentError, match="executor"):
        Team(agents=[members["people"]], executor="dask")
    with pytest.raises(KGAgentError, match="match"):
        Team(agents=[members["people"]], match=("iri", "soundex"))
    with pytest.raises(KGAgentError, match="workspace"):
        Team(agents=[members["people"]]).train_policy(team_questions())
    with Team(agents=[members["people"], members["films"]]) as team:
        infos = team.federation.infos
        other = dataclasses.replace(infos[1], encoder="another-encoder")
        with pytest.raises(KGAgentError, match="different retrieval encoders"):
            Federation([infos[0], other])
    assert TopLevelTeam is Team


def test_members_can_run_as_ray_actors(member_dirs, members, trio):
    ray = pytest.importorskip("ray")
    team, _ = trio
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        names = ("people", "films", "awards")
        dirs = [member_dirs[n] for n in names]
        local_agents = [members[n] for n in names]
        with (
            Team(agents=dirs, executor="ray", llm=None, workspace=team.workspace) as remote,
            Team(agents=local_agents, llm=None, workspace=team.workspace) as local,
        ):
            # the team's policy loads as it does locally (where training last chose to use
            # it: tests before this one retrain it in the same workspace)
            assert (remote.policy is not None) == (local.policy is not None)
            qs = [AWARD, GENRES_OF_NOLAN, "who directed Titanic"]
            got, want = remote.ask_batch(qs), local.ask_batch(qs)
            assert [a.labels for a in got] == [a.labels for a in want]
            assert [[f.id for f in a.facts] for a in got] == [[f.id for f in a.facts] for a in want]
            assert got[0].labels == ["Academy Award for Best Picture"]
            assert {f.agent for f in got[0].facts} == {"people", "awards"}
    finally:
        ray.shutdown()


def test_members_open_read_only_beside_a_writer(member_dirs, members):
    # `members` holds every store open for writing; a read-only team still answers
    with Team(agents=[member_dirs["people"], member_dirs["films"]], read_only=True) as team:
        assert team.ask("who directed Titanic").labels == ["James Cameron"]


def test_team_of_one_answers_like_its_agent(members):
    with Team(agents=[members["people"]]) as team:
        q = "who directed Titanic"
        assert team.ask(q).labels == members["people"].ask(q).labels == ["James Cameron"]
        assert np.isfinite(team.ask(q).confidence)


def test_llm_proxy_scores_through_the_lead_member(members):
    lm = members["people"].llm
    calls = lm.calls
    with Team(agents=[members["people"], members["films"]], settings={"decisive": None}) as team:
        assert team.llm is not None
        team.ask(GENRES_OF_NOLAN)
        assert lm.calls > calls
    with Team(agents=[members["people"]], llm=OverlapLM()) as team:
        assert team.llm.name == "overlap-test-lm"


def _info(name, labels, edges=()):
    terms = [f"<http://{name}.example/{i}>" for i in range(len(labels))]
    rel = [f"<http://{name}.example/rel>"]
    return MemberInfo(
        name=name,
        graph=name,
        encoder="e",
        entity_terms=terms,
        entity_labels=list(labels),
        relation_terms=rel,
        relation_texts=["rel", "rel of"],
        relation_vectors=np.eye(2, 4, dtype=np.float32),
        edges=np.array(edges or [(0, 0, 1)], dtype=np.int64),
        same_as=np.zeros((0, 2), dtype=np.int64),
    )


def test_labels_match_one_to_one_and_normalised_only_when_asked():
    a = _info("a", ["Tom Hanks", "Heat", "Big"])
    b = _info("b", ["tom hanks", "Heat", "Heat", "Big"])  # b has two "Heat"s
    fed = Federation([a, b])
    assert fed.match_counts["b"]["label"] == 1  # only "Big": "Heat" is ambiguous in b
    assert fed.num_entities == 3 + 3
    loose = Federation([a, b], match=("iri", "label", "normalized_label"))
    assert loose.match_counts["b"]["normalized_label"] == 1  # "tom hanks" -> "Tom Hanks"
    assert int(loose.to_team[1][0]) == int(loose.to_team[0][0])


def test_a_team_of_one_answers_like_its_agent(member_dirs):
    """The same pipeline over the federated view of one graph: same candidates, same
    answers, same cited facts (the team stamps each fact with its member)."""
    with Agent.open(member_dirs["people"], read_only=True) as agent:
        agent.llm = OverlapLM()
        agent.use_policy(None)  # the team has no policy of its own
        with Team(agents=[agent]) as team:
            questions = [q for q, _ in team_questions()] + ["who starred in Titanic", ""]
            mine, theirs = agent.retriever.evidence(questions), team.evidence(questions)
            for a, b in zip(mine, theirs, strict=True):
                key = [(c.topic, c.relations, c.inverse, c.answers, round(c.score, 5))
                       for c in a.candidates]  # fmt: skip
                assert key == [(c.topic, c.relations, c.inverse, c.answers, round(c.score, 5))
                               for c in b.candidates]  # fmt: skip
            for a, b in zip(agent.ask_batch(questions), team.ask_batch(questions), strict=True):
                assert a.labels == b.labels and a.confidence == pytest.approx(b.confidence)
                assert [f.id for f in a.facts] == [f.id for f in b.facts]
