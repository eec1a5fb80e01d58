"""A read-only view of the ontology in a graph: classes, properties, hierarchies, labels.

Computed with a handful of SPARQL queries over the union of sources (inferred graphs
included, so after ``kg.reason()`` the view shows inferred types too), then held in plain
dicts; the graph caches the view until its content changes.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kgagent.kg.sparql import STANDARD_PREFIXES

if TYPE_CHECKING:
    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["ClassInfo", "Ontology", "PropertyInfo", "local_name_label"]

RDF = STANDARD_PREFIXES["rdf"]
RDFS = STANDARD_PREFIXES["rdfs"]
OWL = STANDARD_PREFIXES["owl"]
SKOS = STANDARD_PREFIXES["skos"]
_KGA = "https://kgagent.dev/vocab#"

_META_CLASSES = {
    f"{OWL}Class",
    f"{RDFS}Class",
    f"{RDF}Property",
    f"{OWL}ObjectProperty",
    f"{OWL}DatatypeProperty",
    f"{OWL}AnnotationProperty",
    f"{OWL}TransitiveProperty",
    f"{OWL}SymmetricProperty",
    f"{OWL}FunctionalProperty",
    f"{OWL}InverseFunctionalProperty",
    f"{OWL}AsymmetricProperty",
    f"{OWL}ReflexiveProperty",
    f"{OWL}IrreflexiveProperty",
    f"{OWL}Ontology",
    f"{OWL}Restriction",
    f"{OWL}AllDisjointClasses",
    f"{OWL}AllDifferent",
    f"{RDFS}Datatype",
    f"{OWL}NamedIndividual",
    f"{RDFS}Resource",
    f"{OWL}Thing",
}
_PROPERTY_KINDS = {
    f"{OWL}ObjectProperty": "object",
    f"{OWL}DatatypeProperty": "datatype",
    f"{OWL}AnnotationProperty": "annotation",
    f"{RDF}Property": "rdf",
}
_KIND_VALUES = " ".join(f"<{k}>" for k in _PROPERTY_KINDS)


def local_name_label(iri: str) -> str:
    """A readable label from an IRI's local name: ``.../directedBy`` -> ``directed by``."""
    name = re.split(r"[#/:]", iri.rstrip("/#"))[-1] or iri
    from urllib.parse import unquote

    name = unquote(name)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])|(?<=[a-z])(?=[0-9])", " ", name)
    words = re.sub(r"[_\-]+", " ", words).strip()
    return words.lower() if words and not words.isupper() and " " in words else words


@dataclass
class ClassInfo:
    iri: str
    label: str
    comment: str | None = None
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    instances: int = 0


@dataclass
class PropertyInfo:
    iri: str
    label: str
    kind: str  # object | datatype | annotation | rdf | used
    domains: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    inverse_of: list[str] = field(default_factory=list)
    comment: str | None = None
    usage: int = 0


class Ontology:
    """Classes, properties, individuals and labels of a KnowledgeGraph.

    Labels come from ``rdfs:label`` and ``skos:prefLabel`` in the preferred language,
    else untagged, else any language, else the IRI's local name split into words.
    """

    def __init__(self, kg: KnowledgeGraph, *, lang: str = "en") -> None:
        self.lang = lang
        self._labels: dict[str, dict[str, str]] = defaultdict(dict)  # iri -> lang -> label
        self._alt: dict[str, list[str]] = defaultdict(list)
        self._comments: dict[str, dict[str, str]] = defaultdict(dict)
        self.classes: dict[str, ClassInfo] = {}
        self.properties: dict[str, PropertyInfo] = {}
        self._types: dict[str, set[str]] = defaultdict(set)  # individual -> classes
        #: kgagent annotations (e.g. verbalization templates): annotation -> {iri: value}
        self.annotations: dict[str, dict[str, str]] = defaultdict(dict)
        self._load(kg)

    @classmethod
    def union(cls, ontologies: Sequence[Ontology], *, lang: str | None = None) -> Ontology:
        """One ontology over several graphs' (a team's members): labels, comments,
        annotations and types from every one, the first one's where two disagree;
        classes and properties merged, their parents, domains and ranges unioned."""
        import copy

        if not ontologies:
            raise ValueError("no ontology to unite")
        out = cls.__new__(cls)
        out.lang = ontologies[0].lang if lang is None else lang
        out._labels, out._comments = defaultdict(dict), defaultdict(dict)
        out._alt, out._types = defaultdict(list), defaultdict(set)
        out.annotations = defaultdict(dict)
        out.classes, out.properties = {}, {}
        for onto in ontologies:
            for table, mine in ((onto._labels, out._labels), (onto._comments, out._comments)):
                for iri, by_lang in table.items():
                    for key, value in by_lang.items():
                        mine[iri].setdefault(key, value)
            for iri, alts in onto._alt.items():
                out._alt[iri].extend(a for a in alts if a not in out._alt[iri])
            for iri, types in onto._types.items():
                out._types[iri] |= types
            for name, values in onto.annotations.items():
                for iri, value in values.items():
                    out.annotations[name].setdefault(iri, value)
            for theirs, mine, lists in (
                (onto.classes, out.classes, ("parents", "children")),
                (onto.properties, out.properties, ("domains", "ranges", "parents", "inverse_of")),
            ):
                for iri, info in theirs.items():
                    if iri not in mine:
                        mine[iri] = copy.deepcopy(info)
                        continue
                    for attr in lists:
                        have = getattr(mine[iri], attr)
                        have.extend(x for x in getattr(info, attr) if x not in have)
        return out

    # -- building -----------------------------------------------------------------------

    @staticmethod
    def _rows(kg: KnowledgeGraph, sparql: str) -> Iterable[tuple[Any, ...]]:
        return kg.select_rows(sparql)

    @staticmethod
    def _literal_rows(kg: KnowledgeGraph, sparql: str) -> Iterable[tuple[str, str, str]]:
        """(node, language, lexical form) of ``SELECT ?x ?l`` over literals, read as TSV.

        Labels run to one per entity (87k on MetaQA): parsing TSV in bulk is several
        times faster than one Python term object per row.
        """
        from kgagent.kg.backends import read_tsv
        from kgagent.kg.terms import parse_literal

        frame = read_tsv(kg.select_tsv(sparql), 2)
        for x, lit in zip(frame[0].tolist(), frame[1].tolist(), strict=True):
            lex, _, lang = parse_literal(lit)
            node = x[1:-1] if x.startswith("<") else x.removeprefix("_:")
            yield node, lang or "", lex

    @staticmethod
    def _usage(kg: KnowledgeGraph) -> Iterable[tuple[str, int, int]]:
        """(predicate IRI, triples using it, of which literal-valued), one full pass.

        From the store scan when a caller holds one (indexing does), else one query.
        """
        frame = kg.held_triples_frame()
        if frame is None:
            for p, n, lit in Ontology._rows(
                kg,
                "SELECT ?p (COUNT(*) AS ?n) (SUM(IF(isLiteral(?o), 1, 0)) AS ?lit) "
                "WHERE { ?s ?p ?o } GROUP BY ?p",
            ):
                yield p.value, int(n.value), int(lit.value)
            return
        literal = frame[2].str.startswith('"')
        counts = literal.groupby(frame[1]).agg(["size", "sum"])
        for p, n, lit in zip(counts.index, counts["size"], counts["sum"], strict=True):
            yield p[1:-1], int(n), int(lit)

    def _load(self, kg: KnowledgeGraph) -> None:
        for x, lang, lex in self._literal_rows(
            kg,
            f"SELECT ?x ?l WHERE {{ ?x <{RDFS}label>|<{SKOS}prefLabel> ?l FILTER(isLiteral(?l)) }}",
        ):
            self._labels[x].setdefault(lang, lex)
        for x, lab in self._rows(kg, f"SELECT ?x ?l WHERE {{ ?x <{SKOS}altLabel> ?l }}"):
            self._alt[x.value].append(lab.value)
        for x, c in self._rows(
            kg, f"SELECT ?x ?c WHERE {{ ?x <{RDFS}comment> ?c FILTER(isLiteral(?c)) }}"
        ):
            self._comments[x.value].setdefault(getattr(c, "language", None) or "", c.value)

        def iri(term: Any) -> str | None:
            return term.value if type(term).__name__ == "NamedNode" else None

        # classes: declared, in the hierarchy, or used as a type
        declared = f"{{ ?c a <{OWL}Class> }} UNION {{ ?c a <{RDFS}Class> }}"
        for (c,) in self._rows(kg, f"SELECT DISTINCT ?c WHERE {{ {declared} }}"):
            if iri(c) and c.value not in _META_CLASSES:
                self._class(c.value)
        for c, p in self._rows(kg, f"SELECT ?c ?p WHERE {{ ?c <{RDFS}subClassOf> ?p }}"):
            if iri(c) and iri(p) and c.value != p.value:
                child, parent = self._class(c.value), self._class(p.value)
                if parent.iri not in child.parents:
                    child.parents.append(parent.iri)
                    parent.children.append(child.iri)
        for x, c in self._rows(kg, "SELECT ?x ?c WHERE { ?x a ?c }"):
            if iri(c) and c.value not in _META_CLASSES:
                self._class(c.value).instances += 1
                self._types[x.value].add(c.value)

        # properties: declared with a kind, or simply used as predicates
        for p, kind in self._rows(
            kg,
            f"SELECT ?p ?k WHERE {{ ?p a ?k VALUES ?k {{ {_KIND_VALUES} }} }}",
        ):
            if iri(p):
                info = self._property(p.value)
                new = _PROPERTY_KINDS[kind.value]
                if info.kind in ("used", "rdf") or new != "rdf":
                    info.kind = new
        literal_valued: set[str] = set()
        for p, n, lit in self._usage(kg):
            self._property(p).usage = n
            if lit == n:
                literal_valued.add(p)
            if p.startswith(_KGA):  # kgagent annotations, e.g. verbalization templates
                for x, v in self._rows(kg, f"SELECT ?x ?v WHERE {{ ?x <{p}> ?v }}"):
                    self.annotations[p][x.value] = v.value
        for rel, attr in (
            (f"{RDFS}domain", "domains"),
            (f"{RDFS}range", "ranges"),
            (f"{RDFS}subPropertyOf", "parents"),
            (f"{OWL}inverseOf", "inverse_of"),
        ):
            for p, o in self._rows(kg, f"SELECT ?p ?o WHERE {{ ?p <{rel}> ?o }}"):
                if iri(p) and iri(o) and o.value != p.value:
                    values = getattr(self._property(p.value), attr)
                    if o.value not in values:
                        values.append(o.value)
        for info in self.properties.values():
            if info.kind == "used":
                info.kind = "datatype" if info.iri in literal_valued else "object"
        for iri_, info in self.classes.items():
            info.label, info.comment = self.label(iri_), self.comment(iri_)
        for iri_, info in self.properties.items():
            info.label, info.comment = self.label(iri_), self.comment(iri_)

    def _class(self, iri: str) -> ClassInfo:
        if iri not in self.classes:
            self.classes[iri] = ClassInfo(iri=iri, label="")
        return self.classes[iri]

    def _property(self, iri: str) -> PropertyInfo:
        if iri not in self.properties:
            self.properties[iri] = PropertyInfo(iri=iri, label="", kind="used")
        return self.properties[iri]

    # -- labels -------------------------------------------------------------------------

    def _pick(self, table: dict[str, str], lang: str | None) -> str | None:
        if not table:
            return None
        lang = (lang or self.lang or "").lower()
        for key, value in table.items():
            if key.lower() == lang:
                return value
        for key, value in table.items():  # en-GB for en
            if key.lower().split("-")[0] == lang.split("-")[0] and lang:
                return value
        if "" in table:
            return table[""]
        return next(iter(table.values()))

    def label(self, iri: Any, lang: str | None = None) -> str:
        key = str(getattr(iri, "value", iri))
        return self._pick(self._labels.get(key, {}), lang) or local_name_label(key)

    def labels(self, iri: Any) -> dict[str, str]:
        """All labels of ``iri`` by language tag ('' for untagged)."""
        return dict(self._labels.get(str(getattr(iri, "value", iri)), {}))

    def alt_labels(self, iri: Any) -> list[str]:
        return list(self._alt.get(str(getattr(iri, "value", iri)), []))

    def comment(self, iri: Any, lang: str | None = None) -> str | None:
        return self._pick(self._comments.get(str(getattr(iri, "value", iri)), {}), lang)

    def labelled(self) -> dict[str, dict[str, str]]:
        """Every IRI that has a label, with its labels by language."""
        return self._labels

    # -- hierarchy ----------------------------------------------------------------------

    def ancestors(self, cls: str) -> list[str]:
        """All superclasses of ``cls`` (transitive, cycle-safe), nearest first."""
        return _closure(cls, lambda c: self.classes[c].parents if c in self.classes else [])

    def descendants(self, cls: str) -> list[str]:
        return _closure(cls, lambda c: self.classes[c].children if c in self.classes else [])

    def super_properties(self, prop: str) -> list[str]:
        return _closure(prop, lambda p: self.properties[p].parents if p in self.properties else [])

    def class_hierarchy(self) -> dict[str, list[str]]:
        """class -> direct superclasses."""
        return {c: list(info.parents) for c, info in self.classes.items()}

    def property_hierarchy(self) -> dict[str, list[str]]:
        return {p: list(info.parents) for p, info in self.properties.items() if info.parents}

    def roots(self) -> list[str]:
        return sorted(c for c, info in self.classes.items() if not info.parents)

    # -- individuals --------------------------------------------------------------------

    def individuals(self, cls: str | None = None) -> list[str]:
        """Instances of ``cls`` (and its subclasses), or of any class."""
        if cls is None:
            return sorted(x for x, types in self._types.items() if x not in self.classes)
        wanted = {str(cls), *self.descendants(str(cls))}
        return sorted(x for x, types in self._types.items() if types & wanted)

    def types(self, individual: Any) -> list[str]:
        return sorted(self._types.get(str(getattr(individual, "value", individual)), ()))

    def summary(self) -> str:
        kinds = defaultdict(int)
        for p in self.properties.values():
            kinds[p.kind] += 1
        return (
            f"{len(self.classes)} classes, {len(self.properties)} properties "
            f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), "
            f"{len(self.individuals())} typed individuals"
        )


def _closure(start: str, step) -> list[str]:
    seen: list[str] = []
    frontier = list(step(start))
    while frontier:
        nxt = []
        for x in frontier:
            if x != start and x not in seen:
                seen.append(x)
                nxt.extend(step(x))
        frontier = nxt
    return seen
