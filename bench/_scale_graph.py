"""A generated knowledge graph of any size, with one-hop questions and their complete
answers, for ``bench/scale.py``.

Why generated: the scale bench needs graphs of 100k, 1M and 10M facts with the shape of
real ones (people, places, organizations, works; a few hub objects and many rare ones;
literal years and numbers; names that mostly differ but sometimes clash), and questions
whose gold answers are known exactly. No public graph comes in those sizes with such
questions, and a generator lets a 10M run be repeated bit for bit from a seed.

Shape:

- entity classes Person, Organization, City, Country, Book, Film (both CreativeWork),
  Genre, Award; entity ids are contiguous per class in that order;
- 20 properties with ``rdfs:label``, ``rdfs:domain`` and ``rdfs:range``: 15 between
  entities, 5 with integer literals (years, population);
- objects drawn by a Zipf law over the range class (Zipf 1949; the bounded continuous
  inverse-CDF), mapped to entities by an affine bijection so the hubs are spread over the
  id space; subjects of the multi-valued properties uniform;
- names built from syllables (and a few English words for titles), a pure function of the
  entity id; a share of people, cities and films deliberately take another's name (people
  who share a name, towns called the same, a film adapted from a book keeping its title).

"Facts" are what kgagent's fact table holds: every triple except labels, so schema and
``rdf:type`` triples count. ``write_graph(path, facts=N)`` writes exactly N of them, plus one
label per entity, class and property, as N-Triples, relation by relation in chunks of
subjects (memory does not grow with N). Everything is derived from ``seed``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from _scale_names import GENRES, base_names, hash_ids
from numpy.dtypes import StringDType

__all__ = ["NS", "RELATIONS", "Plan", "Relation", "parse_size", "plan", "write_graph"]

NS = "http://example.org/scale/"
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
OWL = "http://www.w3.org/2002/07/owl#"
XSD_INT = "http://www.w3.org/2001/XMLSchema#integer"

#: classes in id order; share of the entities for the classes that grow with the graph
CLASSES = ("Person", "Organization", "City", "Country", "Book", "Film", "Genre", "Award")
SHARES = {"Person": 0.42, "Organization": 0.08, "City": 0.04, "Book": 0.22, "Film": 0.22}
#: a domain may be a range of adjacent classes: Book and Film are creative works
SUPER = {"CreativeWork": ("Book", "Film")}
#: the share of entities that take the name of another entity of their class (film: of a
#: book, an adaptation)
SHARED_NAMES = {"Person": 0.03, "City": 0.05, "Film": 0.04}
#: questions whose answer set is larger than this are not asked (a hub's inverse)
MAX_ANSWERS = 100
SUBJECT_CHUNK = 200_000


@dataclass(frozen=True)
class Relation:
    """One property. ``per_subject``: for a functional property the share of the domain
    that has a value; else the mean number of values per domain entity (rescaled so the
    graph has exactly the requested facts). ``zipf``: the exponent of the object law."""

    key: str
    label: str
    domain: str
    range: str  # a class, or "integer"
    functional: bool
    per_subject: float
    zipf: float
    forward: tuple[str, ...]
    inverse: tuple[str, ...] = ()

    @property
    def literal(self) -> bool:
        return self.range == "integer"


R = Relation
RELATIONS: tuple[Relation, ...] = (
    R("birthPlace", "place of birth", "Person", "City", True, 0.9, 1.0,
      ("where was {x} born?", "what is the place of birth of {x}?",
       "in which city was {x} born?"),
      ("who was born in {x}?", "which people were born in {x}?")),
    R("citizenship", "country of citizenship", "Person", "Country", True, 0.8, 1.1,
      ("what is the country of citizenship of {x}?", "{x} is a citizen of which country?"),
      ("who are citizens of {x}?", "which people are citizens of {x}?")),
    R("employer", "employer", "Person", "Organization", False, 1.2, 1.0,
      ("who is the employer of {x}?", "where does {x} work?",
       "which organization employs {x}?"),
      ("who works for {x}?", "who is employed by {x}?")),
    R("educatedAt", "educated at", "Person", "Organization", False, 0.6, 1.1,
      ("where was {x} educated?", "where did {x} study?"),
      ("who was educated at {x}?", "who studied at {x}?")),
    R("influencedBy", "influenced by", "Person", "Person", False, 0.5, 1.2,
      ("who influenced {x}?", "{x} was influenced by whom?"),
      ("who was influenced by {x}?", "whom did {x} influence?")),
    R("awardReceived", "award received", "Person", "Award", False, 0.3, 1.0,
      ("what awards did {x} receive?", "which award did {x} win?"),
      ("who received the {x}?", "who won the {x}?")),
    R("author", "author", "Book", "Person", True, 0.95, 0.9,
      ("who is the author of {x}?", "who wrote {x}?"),
      ("what books did {x} write?", "which books were written by {x}?")),
    R("publisher", "publisher", "Book", "Organization", True, 0.7, 1.1,
      ("who published {x}?", "what is the publisher of {x}?"),
      ("what books did {x} publish?", "which books were published by {x}?")),
    R("genre", "genre", "CreativeWork", "Genre", False, 1.3, 1.0,
      ("what genre is {x}?", "what is the genre of {x}?")),
    R("director", "director", "Film", "Person", True, 0.95, 0.9,
      ("who directed {x}?", "who is the director of {x}?"),
      ("which films did {x} direct?", "what films were directed by {x}?")),
    R("castMember", "cast member", "Film", "Person", False, 2.5, 0.9,
      ("who starred in {x}?", "who are the cast members of {x}?", "who acted in {x}?"),
      ("which films did {x} star in?", "what films did {x} act in?")),
    R("filmingLocation", "filming location", "Film", "City", False, 0.5, 1.1,
      ("where was {x} filmed?", "what is the filming location of {x}?"),
      ("which films were shot in {x}?", "what films were filmed in {x}?")),
    R("country", "country", "City", "Country", True, 1.0, 1.1,
      ("which country is {x} in?", "in what country is {x}?"),
      ("which cities are in {x}?", "what cities are located in {x}?")),
    R("headquarters", "headquarters location", "Organization", "City", True, 0.8, 1.1,
      ("where is {x} headquartered?", "where are the headquarters of {x}?"),
      ("which organizations are headquartered in {x}?",)),
    R("foundedBy", "founded by", "Organization", "Person", True, 0.5, 0.8,
      ("who founded {x}?", "who is the founder of {x}?"),
      ("which organizations did {x} found?", "what did {x} found?")),
    R("birthYear", "year of birth", "Person", "integer", True, 0.9, 0.0,
      ("when was {x} born?", "what year was {x} born?", "what is the year of birth of {x}?")),
    R("publicationYear", "year of publication", "Book", "integer", True, 0.95, 0.0,
      ("when was {x} published?", "what year was {x} published?")),
    R("releaseYear", "year of release", "Film", "integer", True, 0.95, 0.0,
      ("when was {x} released?", "what year did {x} come out?")),
    R("population", "population", "City", "integer", True, 0.9, 0.0,
      ("what is the population of {x}?", "what population does {x} have?")),
    R("inception", "year founded", "Organization", "integer", True, 0.8, 0.0,
      ("when was {x} founded?", "what year was {x} founded?")),
)  # fmt: skip
del R

# -- the plan -----------------------------------------------------------------------------


@dataclass
class Plan:
    """Class id ranges and the number of facts of each property, for ``facts`` facts."""

    facts: int
    seed: int
    classes: dict[str, tuple[int, int]]  # class -> (first id, count)
    counts: dict[str, int]  # relation key -> facts
    schema_facts: int
    entities: int = field(init=False)

    def __post_init__(self) -> None:
        self.entities = sum(n for _, n in self.classes.values())

    def span(self, cls: str) -> tuple[int, int]:
        """(first id, count) of a class or of a super class (adjacent classes)."""
        if cls in SUPER:
            parts = [self.classes[c] for c in SUPER[cls]]
            return parts[0][0], sum(n for _, n in parts)
        return self.classes[cls]

    def class_of(self, ids: np.ndarray) -> np.ndarray:
        """The class index (into CLASSES) of each id."""
        starts = np.array([self.classes[c][0] for c in CLASSES])
        return np.searchsorted(starts, ids, side="right") - 1

    def names(self, ids: np.ndarray) -> np.ndarray:
        """The labels of entity ids (any classes), namesakes applied."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty(len(ids), dtype=StringDType())
        cls_idx = self.class_of(ids)
        for k in np.unique(cls_idx).tolist():
            at = cls_idx == k
            out[at] = self._class_names(CLASSES[k], ids[at])
        return out

    def _class_names(self, cls: str, ids: np.ndarray) -> np.ndarray:
        share = SHARED_NAMES.get(cls, 0.0)
        first = self.classes[cls][0]
        if share == 0.0:
            return base_names(cls, ids, self.seed, first)
        h = hash_ids(ids, self.seed, 21)
        takes = (h % np.uint64(1_000_000)) < np.uint64(int(share * 1_000_000))
        donor_cls = "Book" if cls == "Film" else cls
        d_first, d_n = self.classes[donor_cls]
        donor = d_first + ((h >> np.uint64(20)) % np.uint64(d_n)).astype(np.int64)
        key = np.where(takes, donor, ids)
        names = base_names(cls, ids, self.seed, first)
        if takes.any():
            # a donor's own name, never a donor's borrowed one: one level of sharing
            names[takes] = base_names(donor_cls, key[takes], self.seed, d_first)
        return names


def _schema_facts() -> int:
    """Non-label schema triples: a type per class (and CreativeWork), two subClassOf, and
    type, domain and range per property."""
    return len(CLASSES) + 1 + 2 + 3 * len(RELATIONS)


def plan(facts: int, *, seed: int = 0) -> Plan:
    """How many entities of each class and facts of each property make ``facts`` facts.

    Raises:
        ValueError: fewer than 1,000 facts (the smallest graph with every class and
            property used).
    """
    if facts < 1000:
        raise ValueError(f"facts: at least 1000, not {facts}")
    schema = _schema_facts()

    def sizes(e: int) -> dict[str, int]:
        fixed = {
            "Country": int(np.clip(round(0.002 * e), 10, 250)),
            "Genre": int(np.clip(round(0.001 * e), 8, len(GENRES))),
            "Award": int(np.clip(round(0.005 * e), 10, 20_000)),
        }
        rest = e - sum(fixed.values())
        total = sum(SHARES.values())
        grown = {c: max(3, int(rest * s / total)) for c, s in SHARES.items()}
        return {c: {**fixed, **grown}[c] for c in CLASSES}

    def domain_size(r: Relation, n: dict[str, int]) -> int:
        return sum(n[c] for c in SUPER.get(r.domain, (r.domain,)))

    def wanted(n: dict[str, int]) -> float:
        return sum(n.values()) + sum(r.per_subject * domain_size(r, n) for r in RELATIONS)

    e = facts / 6
    for _ in range(8):  # fixed point: the facts the class sizes of e entities imply
        e *= (facts - schema) / wanted(sizes(round(e)))
    n = sizes(round(e))
    counts = {r.key: round(r.per_subject * domain_size(r, n)) for r in RELATIONS if r.functional}
    budget = facts - schema - sum(n.values()) - sum(counts.values())
    multi = [r for r in RELATIONS if not r.functional]
    weights = np.array([r.per_subject * domain_size(r, n) for r in multi])
    if budget < len(multi):
        raise ValueError(f"facts: {facts} leaves no room for the multi-valued properties")
    share = budget * weights / weights.sum()
    whole = np.floor(share).astype(np.int64)
    for k in np.argsort(-(share - whole))[: budget - int(whole.sum())]:  # largest remainder
        whole[k] += 1
    counts.update({r.key: int(c) for r, c in zip(multi, whole, strict=True)})
    for r in multi:
        room = domain_size(r, n) * n[r.range]
        if counts[r.key] > room // 2:
            raise ValueError(f"facts: {facts} is too many for {r.key} ({room} pairs)")
    starts = np.concatenate([[0], np.cumsum([n[c] for c in CLASSES])])
    classes = {c: (int(starts[k]), n[c]) for k, c in enumerate(CLASSES)}
    return Plan(facts=facts, seed=seed, classes=classes, counts=counts, schema_facts=schema)


def parse_size(text: str) -> int:
    """``"100k"`` -> 100000, ``"1m"`` -> 1000000, ``"2500"`` -> 2500."""
    t = text.strip().lower().replace("_", "")
    mult = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if mult > 1 else t) * mult
    except ValueError:
        raise ValueError(f"size: expected a count like 100k, 1m or 2500, not {text!r}") from None
    if value != int(value) or value <= 0:
        raise ValueError(f"size: expected a positive whole count, not {text!r}")
    return int(value)


# -- edges --------------------------------------------------------------------------------


def _zipf_ranks(rng: np.random.Generator, n: int, a: float, size: int) -> np.ndarray:
    """Ranks in [0, n) with P(rank k) ~ (k + 1)^-a: the inverse CDF of the continuous law
    on [1, n + 1), floored (a = 1 is the log-uniform limit)."""
    u = rng.random(size)
    if abs(a - 1.0) < 1e-9:
        x = np.exp(u * math.log(n + 1))
    else:
        x = (1 + u * ((n + 1) ** (1 - a) - 1)) ** (1 / (1 - a))
    return np.minimum(np.floor(x).astype(np.int64) - 1, n - 1)


def _bijection(n: int, seed: int, salt: int) -> tuple[int, int]:
    """(A, B) with rank -> (A * rank + B) mod n one-to-one: hubs land anywhere."""
    h = int(hash_ids(np.array([salt]), seed, 31)[0])
    a = (h % max(n - 1, 1)) + 1
    while math.gcd(a, n) != 1:
        a += 1
    return a, (h >> 32) % n


def _literals(r: Relation, rng: np.random.Generator, size: int) -> np.ndarray:
    if r.key == "population":
        return np.round(np.exp(rng.normal(10.0, 1.6, size))).astype(np.int64) + 100
    centre, spread, low, high = {
        "birthYear": (1950, 30, 1800, 2010),
        "publicationYear": (1980, 35, 1800, 2024),
        "releaseYear": (1995, 20, 1920, 2024),
        "inception": (1950, 45, 1700, 2024),
    }[r.key]
    return np.clip(np.round(rng.normal(centre, spread, size)), low, high).astype(np.int64)


def relation_edges(p: Plan, r_index: int):
    """The (subjects, objects) of one property, chunk by chunk of subjects: (k,) int64
    each (objects are values for a literal property). Deterministic per (seed, property,
    chunk), duplicates removed, exactly ``p.counts[key]`` pairs in all."""
    r = RELATIONS[r_index]
    total = p.counts[r.key]
    lo, n = p.span(r.domain)
    if not r.literal:
        r_lo, r_n = p.span(r.range)
        a, b = _bijection(r_n, p.seed, r_index)
    bounds = [*range(0, n, SUBJECT_CHUNK), n]
    sizes = np.diff(bounds)
    share = total * sizes / n
    quota = np.floor(share).astype(np.int64)
    for k in np.argsort(-(share - quota), kind="stable")[: total - int(quota.sum())]:
        quota[k] += 1
    chunks = zip(bounds[:-1], sizes.tolist(), quota.tolist(), strict=True)
    for c, (start, size, want) in enumerate(chunks):
        rng = np.random.default_rng([p.seed, r_index, c])
        if r.functional:
            s = lo + start + np.sort(rng.choice(size, want, replace=False))
            if r.literal:
                yield s, _literals(r, rng, want)
                continue
            ranks = _zipf_ranks(rng, r_n, r.zipf, want)
            yield s, r_lo + (a * ranks + b) % r_n
            continue
        keys = np.empty(0, dtype=np.int64)
        while len(keys) < want:
            extra = int((want - len(keys)) * 1.1) + 16
            s = start + rng.integers(0, size, extra)
            o = (a * _zipf_ranks(rng, r_n, r.zipf, extra) + b) % r_n
            keys = np.unique(np.concatenate([keys, s * r_n + o]))
        keys = np.sort(rng.permutation(keys)[:want])
        yield lo + keys // r_n, r_lo + keys % r_n


# -- writing ------------------------------------------------------------------------------


def _schema_lines() -> list[str]:
    label = f"<{RDFS}label>"
    out = []
    for c in (*CLASSES, "CreativeWork"):
        words = "creative work" if c == "CreativeWork" else c.lower()
        out += [f"<{NS}{c}> <{RDF_TYPE}> <{OWL}Class> .", f'<{NS}{c}> {label} "{words}" .']
    out += [f"<{NS}{c}> <{RDFS}subClassOf> <{NS}CreativeWork> ." for c in SUPER["CreativeWork"]]
    for r in RELATIONS:
        kind = "DatatypeProperty" if r.literal else "ObjectProperty"
        rng = XSD_INT if r.literal else f"{NS}{r.range}"
        out += [
            f"<{NS}{r.key}> <{RDF_TYPE}> <{OWL}{kind}> .",
            f'<{NS}{r.key}> {label} "{r.label}" .',
            f"<{NS}{r.key}> <{RDFS}domain> <{NS}{r.domain}> .",
            f"<{NS}{r.key}> <{RDFS}range> <{rng}> .",
        ]
    return [line + "\n" for line in out]


@dataclass
class _Topics:
    """Question topics chosen before writing, and what the stream tells about them."""

    forward: dict[int, np.ndarray]  # relation index -> candidate subject ids
    inverse: dict[int, np.ndarray]  # relation index -> candidate object ids
    names: set[str] = field(default_factory=set)  # the candidates' names
    named: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    track_s: dict[int, np.ndarray] = field(default_factory=dict)  # r -> subjects to watch
    track_o: dict[int, np.ndarray] = field(default_factory=dict)  # r -> objects to watch
    out: dict = field(default_factory=lambda: defaultdict(list))  # (r, s) -> objects
    into: dict = field(default_factory=lambda: defaultdict(list))  # (r, o) -> subjects


def _choose_topics(p: Plan, questions: int) -> _Topics:
    """Candidate topics per (property, direction), oversampled: many draws have no value
    for the property (or, inverse, more than MAX_ANSWERS answers) and are dropped later."""
    rng = np.random.default_rng([p.seed, 999])
    slots = sum(1 + bool(r.inverse) for r in RELATIONS)
    quota = max(1, math.ceil(questions / slots)) if questions else 0
    fwd, inv = {}, {}
    for i, r in enumerate(RELATIONS):
        if not quota:
            break
        lo, n = p.span(r.domain)
        fwd[i] = np.unique(lo + rng.integers(0, n, min(n, 4 * quota)))
        if r.inverse:
            r_lo, r_n = p.span(r.range)
            inv[i] = np.unique(r_lo + rng.integers(0, r_n, min(r_n, 20 * quota)))
    t = _Topics(forward=fwd, inverse=inv)
    for ids in (*fwd.values(), *inv.values()):
        t.names.update(p.names(ids).tolist())
    return t


def write_graph(path: str | Path, *, facts: int, seed: int = 0, questions: int = 0) -> dict:
    """Writes the graph of ``plan(facts, seed=seed)`` to ``path`` (N-Triples) and returns
    its summary with up to ``questions`` one-hop questions and their complete answers.

    A question names its topic by label; where other entities share that label the gold
    answers are those of all of them, as a reader of the question could not tell them
    apart.
    """
    p = plan(facts, seed=seed)
    topics = _choose_topics(p, questions)
    path = Path(path)
    triples = labels = 0
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        schema = _schema_lines()
        fh.writelines(schema)
        triples += len(schema)
        for cls in CLASSES:
            first, n = p.classes[cls]
            type_line = f"<{NS}e%d> <{RDF_TYPE}> <{NS}{cls}> .\n"
            label_line = f'<{NS}e%d> <{RDFS}label> "%s" .\n'
            for start in range(0, n, SUBJECT_CHUNK):
                ids = np.arange(first + start, first + min(n, start + SUBJECT_CHUNK))
                names = p.names(ids).tolist()
                id_list = ids.tolist()
                fh.write("".join(map(type_line.__mod__, id_list)))
                fh.write("".join(map(label_line.__mod__, zip(id_list, names, strict=True))))
                triples += 2 * len(id_list)
                labels += len(id_list)
                for i, name in zip(id_list, names, strict=True):
                    if name in topics.names:
                        topics.named[name].append(i)
        _watch(p, topics)
        per_relation = {}
        for k, r in enumerate(RELATIONS):
            pred = f"<{NS}{r.key}>"
            if r.literal:
                line = f'<{NS}e%d> {pred} "%d"^^<{XSD_INT}> .\n'
            else:
                line = f"<{NS}e%d> {pred} <{NS}e%d> .\n"
            written = 0
            for s, o in relation_edges(p, k):
                fh.write("".join(map(line.__mod__, zip(s.tolist(), o.tolist(), strict=True))))
                written += len(s)
                _record(topics, k, s, o)
            per_relation[r.key] = written
            triples += written
    facts_written = triples - labels - sum(1 for x in schema if f"<{RDFS}label>" in x)
    return {
        "facts": facts_written,
        "triples": triples,
        "entities": p.entities,
        "classes": {c: n for c, (_, n) in p.classes.items()},
        "relations": per_relation,
        "seed": seed,
        "bytes": path.stat().st_size,
        "questions": _questions(p, topics, questions),
    }


def _watch(p: Plan, t: _Topics) -> None:
    """Every entity named like a candidate is watched too (its answers join the gold)."""
    for i, ids in t.forward.items():
        names = p.names(ids).tolist()
        t.track_s[i] = np.unique([j for nm in names for j in t.named[nm]])
    for i, ids in t.inverse.items():
        names = p.names(ids).tolist()
        t.track_o[i] = np.unique([j for nm in names for j in t.named[nm]])


def _record(t: _Topics, k: int, s: np.ndarray, o: np.ndarray) -> None:
    if k in t.track_s:
        for a, b in zip(*(x[np.isin(s, t.track_s[k])].tolist() for x in (s, o)), strict=True):
            t.out[(k, a)].append(b)
    if k in t.track_o:
        for a, b in zip(*(x[np.isin(o, t.track_o[k])].tolist() for x in (s, o)), strict=True):
            t.into[(k, b)].append(a)


def _questions(p: Plan, t: _Topics, limit: int) -> list[dict]:
    """Per (property, direction) slot the candidates that have 1..MAX_ANSWERS answers,
    then interleaved slot by slot up to ``limit``."""
    slots: list[list[dict]] = []
    for k, r in enumerate(RELATIONS):
        sides = (("forward", t.forward, t.out), ("inverse", t.inverse, t.into))
        for direction, ids, edges in sides:
            if k not in ids:
                continue
            templates = r.forward if direction == "forward" else r.inverse
            names = p.names(ids[k]).tolist()
            choice = hash_ids(ids[k], p.seed, 41 + k) % np.uint64(len(templates))
            slot, seen = [], set()
            for name, tpl in zip(names, choice.tolist(), strict=True):
                if name in seen:
                    continue
                seen.add(name)
                found = {x for j in t.named[name] for x in edges.get((k, j), ())}
                if not found or len(found) > MAX_ANSWERS:
                    continue
                if r.literal:
                    answers = sorted({str(x) for x in found})
                else:
                    answers = sorted(set(p.names(np.array(sorted(found))).tolist()))
                slot.append({
                    "question": templates[tpl].format(x=name),
                    "answers": answers,
                    "relation": r.key,
                    "direction": "literal" if r.literal else direction,
                    "topic": name,
                    "topic_entities": len(t.named[name]),
                })  # fmt: skip
            slots.append(slot)
    out: list[dict] = []
    for depth in range(max((len(s) for s in slots), default=0)):
        out += [s[depth] for s in slots if depth < len(s)]
    return out[:limit]
