"""A knowledge graph as plain Python sets, read without kgagent, for bench/complex_qa.py.

The dev set's answers are computed here, by code that shares nothing with the agent it
measures (no store, no CSR arrays, no program executor), so a bug in either shows up as
a disagreement instead of being repeated on both sides.

Two readers: MetaQA's ``head|relation|tail`` lines, where an entity *is* its name (years
and ratings too), and any RDF file through rdflib, where an entity is an IRI, its names
its ``rdfs:label`` / ``skos:prefLabel`` / ``skos:altLabel`` values, and a datatype
property's value a literal's lexical form.

A topic must be unambiguous, or a question about it has no single right answer:

- MetaQA merges every film of one title into one node ("A Christmas Carol" has four
  release years); such a node is ``merged``. The generator skips merged films as topics
  and as members of a person's films.
- A MetaQA name can be a film and a person ("Malcolm X"), a film and a year ("1984"), a
  film and a genre ("Western"): one node with two natures, ``ambiguous``. Tags are left
  out of this test: most tags are a person's or a film's name in lower case ("steven
  spielberg"), a second node the linker may find, but the same thing.
- In RDF, two IRIs that share a name ("Dune" the film and the novel's altLabel "Dune")
  are both ``ambiguous``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Graph", "read_metaqa", "read_rdf"]


@dataclass
class Graph:
    """Triples by relation, with the display names of their nodes.

    Attributes:
        edges: relation -> subject -> objects. An object is a node id, or for an RDF
            literal its lexical form (absent from ``labels``).
        labels: node id -> the name answers use.
        items: the nodes questions are about (films).
        ambiguous: nodes that must not be a question's topic.
    """

    edges: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    items: set[str] = field(default_factory=set)
    ambiguous: set[str] = field(default_factory=set)

    def label(self, node: str) -> str:
        return self.labels.get(node, node)

    def objects(self, relation: str, subject: str) -> set[str]:
        return self.edges.get(relation, {}).get(subject, set())

    def inverse(self, relation: str) -> dict[str, set[str]]:
        """object -> subjects of one relation (built on each call; callers keep it)."""
        out: dict[str, set[str]] = defaultdict(set)
        for s, objs in self.edges.get(relation, {}).items():
            for o in objs:
                out[o].add(s)
        return dict(out)

    def value(self, relation: str, subject: str) -> str | None:
        """The lexical form of a single-valued relation's object; None when it has none
        or several (a merged MetaQA node)."""
        objs = self.objects(relation, subject)
        return self.label(next(iter(objs))) if len(objs) == 1 else None


def read_metaqa(path: Path, *, ignore: tuple[str, ...] = ("has_tags",)) -> Graph:
    """MetaQA's KB: every head is a film; a tail's nature is the relation it ends.

    Args:
        path: ``head|relation|tail`` lines.
        ignore: relations whose tails do not count as a second nature of a name (tags
            repeat names in lower case; see the module docstring).

    Raises:
        ValueError: a line without exactly three fields (its number is named).
    """
    g = Graph()
    natures: dict[str, set[str]] = defaultdict(set)
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("|")
            if len(parts) != 3:
                raise ValueError(f"{path}:{n}: expected head|relation|tail, got {line!r}")
            h, r, t = parts
            g.edges.setdefault(r, {}).setdefault(h, set()).add(t)
            g.items.add(h)
            natures[h].add("film")
            if r not in ignore:
                natures[t].add(r)
    roles = {node: _nature(rels) for node, rels in natures.items()}
    g.ambiguous = {node for node, kinds in roles.items() if len(kinds) > 1}
    g.ambiguous |= _shared_names({node: {node} for node in roles})
    g.labels = {node: node for node in natures}
    return g


#: MetaQA relations whose tails are people (one nature: a person directs and acts)
_PEOPLE = {"directed_by", "written_by", "starred_actors"}


def _nature(relations: set[str]) -> set[str]:
    return {"person" if r in _PEOPLE else r for r in relations}


def _shared_names(names: dict[str, set[str]]) -> set[str]:
    """The nodes with a name (case-folded) that another node has too."""
    by_name: dict[str, set[str]] = defaultdict(set)
    for node, ns in names.items():
        for name in ns:
            by_name[" ".join(name.casefold().split())].add(node)
    return {node for nodes in by_name.values() if len(nodes) > 1 for node in nodes}


RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
NAME_PREDICATES = (
    RDFS_LABEL,
    "http://www.w3.org/2004/02/skos/core#prefLabel",
    "http://www.w3.org/2004/02/skos/core#altLabel",
)
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def read_rdf(path: Path, *, item_class: str, lang: str = "en") -> Graph:
    """Any RDF file rdflib parses: relations keyed by predicate IRI.

    Args:
        path: the file (format guessed from its suffix).
        item_class: the class IRI of the things questions are about.
        lang: the preferred language of a label.
    """
    import rdflib

    rg = rdflib.Graph()
    rg.parse(str(path))
    g = Graph()
    names: dict[str, set[str]] = defaultdict(set)
    labels: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for s, p, o in rg:
        if not isinstance(s, rdflib.URIRef):
            continue
        subj, pred = str(s), str(p)
        if pred in NAME_PREDICATES and isinstance(o, rdflib.Literal):
            names[subj].add(str(o))
            if pred == RDFS_LABEL:
                rank = 0 if o.language == lang else 1 if o.language is None else 2
                labels[subj].append((rank, str(o)))
            continue
        if pred == RDF_TYPE and str(o) == item_class:
            g.items.add(subj)
        if isinstance(o, rdflib.URIRef | rdflib.Literal):
            g.edges.setdefault(pred, {}).setdefault(subj, set()).add(str(o))
    g.labels = {node: min(cands)[1] for node, cands in labels.items()}
    g.ambiguous = _shared_names(names)
    return g
