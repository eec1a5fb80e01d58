"""A team with no QA data: questions synthesized over the members' graphs federated
(chains crossing from one member's graph into another's), and the team policy trained on
them, used only where it beats the planned chains on held-out questions."""

from __future__ import annotations

import dataclasses
import json

from kgagent.kg.ontology import Ontology
from kgagent.synth import synthesize_items
from kgagent.team import Team
from tests.team.conftest import TEAM_DATA, TINY_POLICY

PEOPLE = "http://kgagent.local/kg/relation/"
FILMS = "http://films.example.org/kg/relation/"


def _holder(relation: str) -> str:
    return "films" if relation.startswith(FILMS) else "people"


def _walk(topic: str, relations, inverse) -> set[str]:
    """The chain's answers by hand, over the two files' label triples."""
    rows = [
        line.split("|")
        for name in ("people.txt", "films.txt")
        for line in (TEAM_DATA / name).read_text().splitlines()
        if line.strip()
    ]
    paths = {(topic,)}  # a walk never revisits a node of its own path
    for rel, back in zip(relations, inverse, strict=True):
        local = rel.rsplit("/", 1)[-1]
        step = [(t, h) if back else (h, t) for h, r, t in rows if r == local]
        paths = {(*p, b) for p in paths for a, b in step if a == p[-1] and b not in p}
    return {p[-1] for p in paths}


def test_synthesized_team_questions_cross_graphs_with_complete_answers(members):
    with Team(agents=[members["people"], members["films"]]) as team:
        items = synthesize_items(team, n=80, seed=1, multi_hop=0.6)
    assert len(items) >= 20
    crossing = [it for it in items if len({_holder(r) for r in it.relations}) == 2]
    assert len(crossing) >= 5, [it.question for it in items]
    for it in items:  # complete answers, from both graphs; the topic named, never an answer
        assert set(it.answers) == _walk(it.topic_label, it.relations, it.inverse), it
        assert it.topic_label.casefold() in it.question.casefold()
        assert it.topic_label not in it.answers


def test_team_trains_on_synthesized_questions_and_keeps_the_better_reader(members, tmp_path):
    ws = tmp_path / "team"
    config = dataclasses.replace(TINY_POLICY, epochs=4, batch_size=16)
    with Team(agents=[members["people"], members["films"]], workspace=ws) as team:
        report = team.train_policy(config=config, questions=120, warm_start=False)
        assert report["synthesized_questions"] > 40
        hits = report["answers_hits_at_1"]
        assert set(hits) == {"policy", "planned"}
        if report["used"]:  # only where clearly better than the planned chains
            assert hits["policy"] > hits["planned"]
        assert (team.policy is not None) == report["used"]
    decided = json.loads((ws / "policy" / "default" / "reader.json").read_text())
    assert decided["use"] == report["used"]
    with Team(agents=[members["people"], members["films"]], workspace=ws) as again:
        assert (again.policy is not None) == report["used"]


def test_ontologies_unite_labels_and_properties(members):
    one, two = members["people"].kg.ontology, members["films"].kg.ontology
    both = Ontology.union([one, two])
    for iri, labels in [*one.labelled().items(), *two.labelled().items()]:
        assert both.label(iri) in labels.values()
    assert set(both.properties) == set(one.properties) | set(two.properties)
