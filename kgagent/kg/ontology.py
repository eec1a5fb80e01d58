"""A read-only view of the ontology in a graph: classes, properties, hierarchies, labels.

Computed with a handful of SPARQL queries over the union of sources (inferred graphs
included, so after ``kg.reason()`` the view shows inferred types too), then held in plain
dicts, compactly (labels by language, a class string or a shared tuple of them per typed
node); the graph caches the view until its content changes.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kgagent.kg.sparql import STANDARD_PREFIXES

if TYPE_CHECKING:
    import pandas as pd

    from kgagent.kg.graph import KnowledgeGraph

__all__ = ["ClassInfo", "Ontology", "PropertyInfo", "Texts", "local_name_label"]

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
#: TSV bytes parsed at a time from a query with a row per node (labels, types)
_CHUNK_BYTES = 1 << 20


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


class Texts(Mapping[str, dict[str, str]]):
    """Texts of many nodes (labels, comments) held by language, ``lang -> {iri: text}``:
    a million labelled nodes cost a dict entry each, not a ~200-byte dict each.

    As a mapping, ``iri -> {lang: text}`` (each node's dict built when asked for, its
    languages in the order the graph first used them); a node's first text in a
    language wins.
    """

    __slots__ = ("tables",)

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, str]] = {}  # lang ('' untagged) -> iri -> text

    def add(self, iri: str, lang: str, text: str) -> None:
        table = self.tables.get(lang)
        if table is None:
            table = self.tables[lang] = {}
        table.setdefault(iri, text)

    def merge(self, other: Texts) -> None:
        """Adds ``other``'s texts where this one has none for the node and language."""
        for lang, theirs in other.tables.items():
            mine = self.tables.setdefault(lang, {})
            for iri, text in theirs.items():
                mine.setdefault(iri, text)

    def pick_lang(self, iri: str, lang: str) -> str | None:
        """The language of ``iri``'s text to show for ``lang``: that language, else a
        regional variant of it (en-GB for en) or its base, else untagged, else the first."""
        if len(self.tables) == 1:  # the common case: whatever the preference
            ((key, table),) = self.tables.items()
            return key if iri in table else None
        lang = lang.lower()
        base = lang.split("-")[0]
        variant = first = None
        for key, table in self.tables.items():
            if iri not in table:
                continue
            low = key.lower()
            if low == lang:
                return key
            if variant is None and lang and low.split("-")[0] == base:
                variant = key
            if first is None:
                first = key
        if variant is not None:
            return variant
        if iri in self.tables.get("", ()):
            return ""
        return first

    def pick(self, iri: str, lang: str) -> str | None:
        key = self.pick_lang(iri, lang)
        return None if key is None else self.tables[key][iri]

    def __getitem__(self, iri: str) -> dict[str, str]:
        out = {lang: table[iri] for lang, table in self.tables.items() if iri in table}
        if not out:
            raise KeyError(iri)
        return out

    def __iter__(self) -> Iterator[str]:
        seen: list[dict[str, str]] = []
        for table in self.tables.values():
            yield from (iri for iri in table if not any(iri in t for t in seen))
            seen.append(table)

    def __len__(self) -> int:
        tables = list(self.tables.values())
        return len(tables[0]) if len(tables) == 1 else sum(1 for _ in self)


class Ontology:
    """Classes, properties, individuals and labels of a KnowledgeGraph.

    Labels come from ``rdfs:label`` and ``skos:prefLabel`` in the preferred language,
    else untagged, else any language, else the IRI's local name split into words.

    Held compactly, since a graph has millions of labelled, typed nodes: texts by
    language (:class:`Texts`), a node's types as one class IRI or a sorted tuple of them
    (class IRIs interned, a tuple shared by every node with the same types), and one key
    string per node across the tables.
    """

    def __init__(self, kg: KnowledgeGraph, *, lang: str = "en") -> None:
        self._empty(lang)
        self._load(kg)

    def _empty(self, lang: str) -> None:
        self.lang = lang
        self._labels = Texts()
        self._comments = Texts()
        self._alt: dict[str, str | tuple[str, ...]] = {}
        self._types: dict[str, str | tuple[str, ...]] = {}  # individual -> class(es)
        self.classes: dict[str, ClassInfo] = {}
        self.properties: dict[str, PropertyInfo] = {}
        #: kgagent annotations (e.g. verbalization templates): annotation -> {iri: value}
        self.annotations: dict[str, dict[str, str]] = defaultdict(dict)

    @classmethod
    def union(cls, ontologies: Sequence[Ontology], *, lang: str | None = None) -> Ontology:
        """One ontology over several graphs' (a team's members): labels, comments,
        annotations and types from every one, the first one's where two disagree;
        classes and properties merged, their parents, domains and ranges unioned."""
        import copy

        if not ontologies:
            raise ValueError("no ontology to unite")
        out = cls.__new__(cls)
        out._empty(ontologies[0].lang if lang is None else lang)
        for onto in ontologies:
            out._labels.merge(onto._labels)
            out._comments.merge(onto._comments)
            for mine, theirs in ((out._alt, onto._alt), (out._types, onto._types)):
                for iri, values in theirs.items():
                    for value in _values(values):
                        _add(mine, iri, value)
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
        _share_tuples(out._types)
        return out

    # -- building -----------------------------------------------------------------------

    @staticmethod
    def _tsv_frames(kg: KnowledgeGraph, sparql: str, columns: int) -> Iterator[pd.DataFrame]:
        """A SELECT's rows as DataFrames of N-Triples terms, each from a bounded block.

        For the queries with a row per node (labels, types: 1.75M rows on a 10M-triple
        graph): the store writes SPARQL TSV to a scratch file, parsed a block at a time,
        so neither the whole result nor one Python term object per row is ever held.
        """
        from kgagent.kg.backends import read_tsv
        from kgagent.kg.scan import tsv_chunks
        from kgagent.kg.sources import union_graphs

        backend = kg.backend
        with tempfile.TemporaryDirectory(prefix="kgagent-ontology-") as tmp:
            path = Path(tmp) / "rows.tsv"
            backend.select_tsv_to(
                sparql,
                path,
                default_graphs=union_graphs(backend),
                include_default=backend.separate_default_graph,
            )
            for block in tsv_chunks(path, _CHUNK_BYTES):
                yield read_tsv(block, columns)

    @staticmethod
    def _text_rows(kg: KnowledgeGraph, sparql: str) -> Iterator[tuple[str, str, str]]:
        """(node, language, value) of ``SELECT ?x ?l``: a literal's lexical form and
        language ('' for none), an IRI or blank node as its value."""
        from kgagent.kg.terms import parse_literal

        for frame in Ontology._tsv_frames(kg, sparql, 2):
            for x, term in zip(frame[0].tolist(), frame[1].tolist(), strict=True):
                if term.startswith('"'):
                    lex, _, lang = parse_literal(term)
                    yield _node(x), lang or "", lex
                else:  # an IRI, a blank node, a bare number or boolean
                    yield _node(x), "", _node(term)

    @staticmethod
    def _usage(kg: KnowledgeGraph) -> Iterable[tuple[str, int, int]]:
        """(predicate IRI, triples using it, of which literal-valued), one full pass.

        From the store scan when a caller holds one (indexing does), else one query.
        """
        frame = kg.held_triples_frame()
        if frame is None:
            for p, n, lit in kg.select_rows(
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
        keys = self._load_texts(kg)
        self._load_classes(kg)
        self._load_types(kg, keys)
        del keys
        self._load_properties(kg)
        for iri_, info in self.classes.items():
            info.label, info.comment = self.label(iri_), self.comment(iri_)
        for iri_, info in self.properties.items():
            info.label, info.comment = self.label(iri_), self.comment(iri_)

    def _load_texts(self, kg: KnowledgeGraph) -> dict[str, str]:
        """Labels, comments and alternative labels; returns the node key strings read
        (each string to itself), so the types table keys a node by the same string."""
        keys: dict[str, str] = {}
        for texts, query in (
            (self._labels, f"?x <{RDFS}label>|<{SKOS}prefLabel> ?l FILTER(isLiteral(?l))"),
            (self._comments, f"?x <{RDFS}comment> ?l FILTER(isLiteral(?l))"),
        ):
            for x, lang, text in self._text_rows(kg, f"SELECT ?x ?l WHERE {{ {query} }}"):
                texts.add(keys.setdefault(x, x), sys.intern(lang), text)
        for x, _, text in self._text_rows(kg, f"SELECT ?x ?l WHERE {{ ?x <{SKOS}altLabel> ?l }}"):
            _add(self._alt, keys.setdefault(x, x), text, unique=False)
        return keys

    def _load_classes(self, kg: KnowledgeGraph) -> None:
        """Classes declared or in the hierarchy (those used as a type: _load_types)."""
        declared = f"{{ ?c a <{OWL}Class> }} UNION {{ ?c a <{RDFS}Class> }}"
        for (c,) in kg.select_rows(f"SELECT DISTINCT ?c WHERE {{ {declared} }}"):
            if _iri(c) and c.value not in _META_CLASSES:
                self._class(c.value)
        for c, p in kg.select_rows(f"SELECT ?c ?p WHERE {{ ?c <{RDFS}subClassOf> ?p }}"):
            if _iri(c) and _iri(p) and c.value != p.value:
                child, parent = self._class(c.value), self._class(p.value)
                if parent.iri not in child.parents:
                    child.parents.append(parent.iri)
                    parent.children.append(child.iri)

    def _load_types(self, kg: KnowledgeGraph, keys: dict[str, str]) -> None:
        """``?x a ?c`` (a row per typed node), read as TSV: class IRIs interned, counted."""
        classes: dict[str, str | None] = {}  # type term -> class IRI (None: not a class)
        for frame in self._tsv_frames(kg, "SELECT ?x ?c WHERE { ?x a ?c }", 2):
            for term in frame[1].unique().tolist():  # first seen first, as classes go
                if term not in classes:
                    iri = term[1:-1] if term.startswith("<") else None
                    ok = iri is not None and iri not in _META_CLASSES
                    classes[term] = self._class(sys.intern(iri)).iri if ok else None
            for x, term in zip(frame[0].tolist(), frame[1].tolist(), strict=True):
                c = classes[term]
                if c is not None:
                    self.classes[c].instances += 1
                    node = _node(x)
                    _add(self._types, keys.get(node, node), c)
        _share_tuples(self._types)

    def _load_properties(self, kg: KnowledgeGraph) -> None:
        """Properties declared with a kind, or simply used as predicates; annotations."""
        for p, kind in kg.select_rows(
            f"SELECT ?p ?k WHERE {{ ?p a ?k VALUES ?k {{ {_KIND_VALUES} }} }}",
        ):
            if _iri(p):
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
                for x, v in kg.select_rows(f"SELECT ?x ?v WHERE {{ ?x <{p}> ?v }}"):
                    self.annotations[p][x.value] = v.value
        for rel, attr in (
            (f"{RDFS}domain", "domains"),
            (f"{RDFS}range", "ranges"),
            (f"{RDFS}subPropertyOf", "parents"),
            (f"{OWL}inverseOf", "inverse_of"),
        ):
            for p, o in kg.select_rows(f"SELECT ?p ?o WHERE {{ ?p <{rel}> ?o }}"):
                if _iri(p) and _iri(o) and o.value != p.value:
                    values = getattr(self._property(p.value), attr)
                    if o.value not in values:
                        values.append(o.value)
        for info in self.properties.values():
            if info.kind == "used":
                info.kind = "datatype" if info.iri in literal_valued else "object"

    def _class(self, iri: str) -> ClassInfo:
        if iri not in self.classes:
            self.classes[iri] = ClassInfo(iri=iri, label="")
        return self.classes[iri]

    def _property(self, iri: str) -> PropertyInfo:
        if iri not in self.properties:
            self.properties[iri] = PropertyInfo(iri=iri, label="", kind="used")
        return self.properties[iri]

    # -- labels -------------------------------------------------------------------------

    def label(self, iri: Any, lang: str | None = None) -> str:
        key = _key(iri)
        return self._labels.pick(key, lang or self.lang or "") or local_name_label(key)

    def labels(self, iri: Any) -> dict[str, str]:
        """All labels of ``iri`` by language tag ('' for untagged)."""
        return self._labels.get(_key(iri), {})

    def names(self, iri: Any) -> list[str]:
        """Every label of ``iri``, one per language: the one :meth:`label` shows first,
        then the others as :meth:`labels` orders them; [] when it has none (no local
        name, no alternative labels). What a name index wants per node, without the
        per-node dict of :meth:`labelled`."""
        key, tables = _key(iri), self._labels.tables
        if len(tables) == 1:  # one language in the graph
            text = next(iter(tables.values())).get(key)
            return [] if text is None else [text]
        shown = self._labels.pick_lang(key, self.lang or "")
        if shown is None:
            return []
        rest = (t[key] for lang, t in tables.items() if lang != shown and key in t)
        return [tables[shown][key], *rest]

    def alt_labels(self, iri: Any) -> list[str]:
        return list(_values(self._alt.get(_key(iri))))

    def comment(self, iri: Any, lang: str | None = None) -> str | None:
        return self._comments.pick(_key(iri), lang or self.lang or "")

    def labelled(self) -> Mapping[str, dict[str, str]]:
        """Every IRI that has a label, with its labels by language (read-only; each
        node's dict is built when looked up: for one pass over many nodes, :meth:`names`
        or :meth:`labels`)."""
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
            return sorted(x for x in self._types if x not in self.classes)
        wanted = {str(cls), *self.descendants(str(cls))}
        return sorted(
            x
            for x, types in self._types.items()
            if (types in wanted if isinstance(types, str) else not wanted.isdisjoint(types))
        )

    def types(self, individual: Any) -> list[str]:
        return list(_values(self._types.get(_key(individual))))

    def summary(self) -> str:
        kinds = defaultdict(int)
        for p in self.properties.values():
            kinds[p.kind] += 1
        return (
            f"{len(self.classes)} classes, {len(self.properties)} properties "
            f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), "
            f"{len(self.individuals())} typed individuals"
        )


def _key(term: Any) -> str:
    """The table key of an IRI given as a string, an rdflib or a pyoxigraph term."""
    return term if type(term) is str else str(getattr(term, "value", term))


def _iri(term: Any) -> bool:
    return type(term).__name__ == "NamedNode"


def _node(term: str) -> str:
    """The value of an N-Triples IRI or blank node term (``<x>`` -> x, ``_:b`` -> b),
    as a pyoxigraph term's ``.value`` spells it; any other term as it is."""
    return term[1:-1] if term.startswith("<") else term.removeprefix("_:")


def _add(table: dict[str, str | tuple[str, ...]], key: str, value: str, *, unique=True) -> None:
    """Adds ``value`` to ``key``'s values: one string while it is one, else a tuple."""
    have = table.get(key)
    if have is None:
        table[key] = value
    elif isinstance(have, str):
        if not (unique and have == value):
            table[key] = (have, value)
    elif not (unique and value in have):
        table[key] = (*have, value)


def _values(entry: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return () if entry is None else (entry,) if isinstance(entry, str) else entry


def _share_tuples(table: dict[str, str | tuple[str, ...]]) -> None:
    """Sorts each tuple of values and makes equal tuples one object (after RDFS
    reasoning most nodes of a class carry the same classes)."""
    shared: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, values in table.items():
        if not isinstance(values, str):
            values = tuple(sorted(values))
            table[key] = shared.setdefault(values, values)


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
