"""The dev set of bench/complex_qa.py: questions of every type, answered from the graph.

Each type has a generator that lists every question the graph can answer unambiguously
(its candidates, in a fixed order), draws ``n`` of them with a seeded ``random.Random``
(round-robin over groups such as the role or the size of the answer, so one kind does
not crowd out the rest), and says each with a paraphrase drawn from
``bench/_complex_words.py``. Answers are computed here with sets over the triples
(``bench/_complex_kb.py``), never by kgagent.

Types and their answers:

- ``count``: how many films a person made in a role (>= 2); ``["7"]``.
- ``yes_no``: a person's role in a film, or two films' order on a number; half "yes",
  half "no", in every form. A "no" about a person names a film close to them (one
  they made in another role, else one a collaborator made), not a random one.
- ``two_constraints``: films a person made in one role and another in a second; only
  non-empty sets smaller than each side alone.
- ``value_constraint``: a person's films in one year; non-empty and smaller than all.
- ``superlative``: a person's film with the least / greatest number (year, runtime);
  the extreme must be unique.
- ``comparison``: which of two films has the lesser / greater number; distinct values.
- ``value``: a film's (or a person's) value's lexical form.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable

from _complex_kb import Graph
from _complex_words import WORDING, Measure, Role, Schema, fill, role_fields

__all__ = ["TYPES", "generate"]

TYPES = (
    "count",
    "yes_no",
    "two_constraints",
    "value_constraint",
    "superlative",
    "comparison",
    "value",
)


class _Ctx:
    """The graph seen through a schema: each role's films per person, the films and
    people that may be topics, and the numbers of the ordered measures."""

    def __init__(self, g: Graph, schema: Schema):
        self.g, self.schema = g, schema
        item_measures = [m for m in schema.measures if not m.of_people]
        self.merged = {
            f for f in g.items if any(len(g.objects(m.relation, f)) > 1 for m in item_measures)
        }
        self.films_of = {r.relation: g.inverse(r.relation) for r in schema.roles}
        self.roles = {r.relation: r for r in schema.roles}
        self._clean: dict[tuple[str, str], bool] = {}

    def topic(self, node: str) -> bool:
        return node in self.g.labels and node not in self.g.ambiguous and node not in self.merged

    def films(self, role: str, person: str) -> set[str]:
        return self.films_of[role].get(person, set())

    def clean(self, role: str, person: str) -> bool:
        """A person whose films in this role may all be answers (no merged film)."""
        key = (role, person)
        if key not in self._clean:
            films = self.films(role, person)
            self._clean[key] = (
                self.topic(person)
                and all(f in self.g.labels for f in films)
                and not films & self.merged
            )
        return self._clean[key]

    def people(self, role: str) -> list[str]:
        return sorted(p for p in self.films_of[role] if self.clean(role, p))

    def number(self, measure: Measure, node: str) -> float | None:
        v = self.g.value(measure.relation, node)
        try:
            return float(v) if v is not None else None
        except ValueError:
            return None

    def ordered(self) -> list[Measure]:
        return [m for m in self.schema.measures if m.ordered and not m.of_people]

    def films_with(self, measure: Measure) -> list[str]:
        """Films that may be topics, with a number for ``measure``."""
        return sorted(
            f for f in self.g.items if self.topic(f) and self.number(measure, f) is not None
        )


def _draw(groups: dict, n: int, rng: random.Random) -> list:
    """``n`` candidates, round-robin over the groups (each shuffled), in a seeded order."""
    pools = [list(groups[k]) for k in sorted(groups, key=str)]
    for pool in pools:
        rng.shuffle(pool)
    rng.shuffle(pools)
    out: list = []
    while len(out) < n and any(pools):
        for pool in pools:
            if pool and len(out) < n:
                out.append(pool.pop())
    return out


def _record(qtype: str, form: str, question: str, answers: Iterable[str], topics, **spec):
    """One dev-set line; ``spec`` is what the question asks in the graph's own terms
    (relations, node ids, the measure's relation, the year), for checks and diagnosis;
    ``chain``: the number of films on each plain chain from a topic (a person's films in
    the role), to which the answers belong."""
    return {
        "question": question,
        "type": qtype,
        "form": form,
        "answers": list(answers),
        "topics": list(topics),
        "spec": spec,
    }


class _Phraser:
    """Draws a template and a noun for films, seeded."""

    def __init__(self, schema: Schema, rng: random.Random):
        self.schema, self.rng = schema, rng

    def say(self, key: str, **fields: str) -> str:
        template = self.rng.choice(WORDING[key])
        return fill(template, self.rng.choice(self.schema.nouns), **fields)


# -- the types ----------------------------------------------------------------------------


def _bucket(k: int) -> int:
    return 2 if k == 2 else 3 if k == 3 else 4 if k <= 5 else 6 if k <= 9 else 10


def gen_count(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    groups = defaultdict(list)
    for role in c.schema.roles:
        for p in c.people(role.relation):
            k = len(c.films(role.relation, p))
            if k >= 2:
                groups[(role.relation, _bucket(k))].append((role.relation, p))
    say, out = _Phraser(c.schema, rng), []
    for rel, p in _draw(groups, n, rng):
        q = say.say("count", p=c.g.label(p), **role_fields(c.roles[rel]))
        out.append(_record("count", f"count/{_short(rel)}", q, [str(len(c.films(rel, p)))],
                           [c.g.label(p)], relation=rel, person=p))  # fmt: skip
    return out


def _short(relation: str) -> str:
    return relation.rsplit("#", 1)[-1].rsplit("/", 1)[-1]


def _near_miss(c: _Ctx, role: Role, p: str, rng: random.Random) -> str | None:
    """A film ``p`` did not make in ``role``: one they made in another role, else one a
    collaborator made, else None."""
    own = c.films(role.relation, p)
    other = {f for r in c.schema.roles for f in c.films(r.relation, p)} - own
    if not other:
        mates = {
            q for f in own for r in c.schema.roles for q in c.g.objects(r.relation, f) if q != p
        }
        other = {f for q in mates for r in c.schema.roles for f in c.films(r.relation, q)} - own
    pool = sorted(f for f in other if c.topic(f))
    return rng.choice(pool) if pool else None


def gen_yes_no(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    """Forms in turn (membership, then each ordered measure), "yes" and "no" alternating
    within each form, so every form is balanced; membership questions take the roles in
    turn."""
    members = {
        r.relation: sorted(
            (p, f) for p in c.people(r.relation) for f in c.films(r.relation, p) if c.topic(f)
        )
        for r in c.schema.roles
    }
    rels = [rel for rel, pairs in members.items() if pairs]
    pools = {m.name: c.films_with(m) for m in c.ordered()}
    forms = ["member"] * bool(rels) + [m.name for m in c.ordered() if len(pools[m.name]) >= 2]
    say, out, seen, asked = _Phraser(c.schema, rng), [], set(), 0
    for _ in range(n * 4):  # draws that repeat a question or find no "no" are skipped
        if len(out) >= n or not forms:
            break
        form, truth = forms[(len(out) // 2) % len(forms)], len(out) % 2 == 0
        if form == "member":
            rel = rels[asked % len(rels)]
            asked += 1
            p, f = rng.choice(members[rel])
            role = c.roles[rel]
            if not truth:
                f = _near_miss(c, role, p, rng)
                if f is None:
                    continue
            q = say.say("member", p=c.g.label(p), f=c.g.label(f), **role_fields(role))
            topics = [c.g.label(p), c.g.label(f)]
            tag, spec = "yes_no/member", {"relation": rel, "person": p, "film": f}
        else:
            m = next(x for x in c.ordered() if x.name == form)
            a, b = rng.sample(pools[form], 2)
            va, vb = c.number(m, a), c.number(m, b)
            if va == vb:
                continue
            op = rng.choice("<>")
            if ((va < vb) if op == "<" else (va > vb)) != truth:
                a, b = b, a
            q = say.say(f"order:{form}:{op}", a=c.g.label(a), b=c.g.label(b))
            topics, tag = [c.g.label(a), c.g.label(b)], f"yes_no/order:{form}"
            spec = {"measure": m.relation, "op": op, "a": a, "b": b}
        if q in seen:
            continue
        seen.add(q)
        out.append(_record("yes_no", tag, q, ["yes" if truth else "no"], topics, **spec))
    return out[: len(out) // 2 * 2]  # an odd last draw would leave one form unbalanced


def gen_two_constraints(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    groups: dict = defaultdict(set)
    for r1, r2 in c.schema.pairs:
        for f in sorted(c.g.items - c.merged):
            for p1 in c.g.objects(r1, f):
                for p2 in c.g.objects(r2, f):
                    if p1 != p2 and c.clean(r1, p1) and c.clean(r2, p2):
                        groups[(r1, r2)].add((r1, p1, r2, p2))
    kept: dict = {}  # by the roles and whether one film or several answer
    for key, cands in groups.items():
        for r1, p1, r2, p2 in sorted(cands):
            a, b = c.films(r1, p1), c.films(r2, p2)
            both = a & b
            if both and len(both) < len(a) and len(both) < len(b):
                kept.setdefault((*key, min(len(both), 2)), []).append((r1, p1, r2, p2))
    say, out = _Phraser(c.schema, rng), []
    for r1, p1, r2, p2 in _draw(kept, n, rng):
        both = c.films(r1, p1) & c.films(r2, p2)
        q = say.say("two_constraints", p=c.g.label(p1), p2=c.g.label(p2),
                    **role_fields(c.roles[r1]), **role_fields(c.roles[r2], "2"))  # fmt: skip
        out.append(_record("two_constraints", f"two_constraints/{_short(r1)}+{_short(r2)}", q,
                           sorted(c.g.label(f) for f in both), [c.g.label(p1), c.g.label(p2)],
                           relations=[r1, r2], people=[p1, p2],
                           chain=[len(c.films(r1, p1)), len(c.films(r2, p2))]))  # fmt: skip
    return out


def gen_value_constraint(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    measure = next(m for m in c.schema.measures if m.name == c.schema.year)
    groups = defaultdict(list)
    for role in c.schema.roles:
        for p in c.people(role.relation):
            films = c.films(role.relation, p)
            years = {f: c.g.value(measure.relation, f) for f in films}
            if len(films) < 2 or None in years.values():
                continue
            for y in sorted(set(years.values())):
                k = sum(v == y for v in years.values())
                if k < len(films):
                    groups[(role.relation, min(k, 2))].append((role.relation, p, y))
    say, out = _Phraser(c.schema, rng), []
    for rel, p, y in _draw(groups, n, rng):
        films = [f for f in c.films(rel, p) if c.g.value(measure.relation, f) == y]
        q = say.say("value_constraint", p=c.g.label(p), y=y, **role_fields(c.roles[rel]))
        out.append(_record("value_constraint", f"value_constraint/{_short(rel)}", q,
                           sorted(c.g.label(f) for f in films), [c.g.label(p)],
                           relation=rel, person=p, measure=measure.relation, value=y,
                           chain=[len(c.films(rel, p))]))  # fmt: skip
    return out


def gen_superlative(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    groups = defaultdict(list)
    for m in c.ordered():
        for role in c.schema.roles:
            for p in c.people(role.relation):
                films = c.films(role.relation, p)
                nums = {f: c.number(m, f) for f in films}
                if len(films) < 2 or None in nums.values():
                    continue
                for way, pick in (("min", min), ("max", max)):
                    best = pick(nums.values())
                    if sum(v == best for v in nums.values()) == 1:
                        groups[(m.name, way, role.relation)].append((m.name, way, role.relation, p))
    say, out = _Phraser(c.schema, rng), []
    measures = {m.name: m for m in c.ordered()}
    for name, way, rel, p in _draw(groups, n, rng):
        nums = {f: c.number(measures[name], f) for f in c.films(rel, p)}
        best = (min if way == "min" else max)(nums, key=nums.__getitem__)
        q = say.say(f"superlative:{name}:{way}", p=c.g.label(p), **role_fields(c.roles[rel]))
        out.append(_record("superlative", f"superlative/{name}:{way}", q, [c.g.label(best)],
                           [c.g.label(p)], relation=rel, person=p,
                           measure=measures[name].relation, way=way,
                           chain=[len(nums)]))  # fmt: skip
    return out


def gen_comparison(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    """Measures and directions in turn; the answer is first or second by a coin."""
    ways = [(m, w) for m in c.ordered() for w in ("min", "max")]
    pools = {m.name: c.films_with(m) for m in c.ordered()}
    ways = [(m, w) for m, w in ways if len(pools[m.name]) >= 2]
    say, out, seen = _Phraser(c.schema, rng), [], set()
    for _ in range(n * 4):
        if len(out) >= n or not ways:
            break
        m, way = ways[len(out) % len(ways)]
        a, b = rng.sample(pools[m.name], 2)
        va, vb = c.number(m, a), c.number(m, b)
        if va == vb or frozenset((a, b)) in seen:
            continue
        seen.add(frozenset((a, b)))
        best = a if (va < vb) == (way == "min") else b
        q = say.say(f"comparison:{m.name}:{way}", a=c.g.label(a), b=c.g.label(b))
        out.append(_record("comparison", f"comparison/{m.name}:{way}", q, [c.g.label(best)],
                           [c.g.label(a), c.g.label(b)], measure=m.relation, way=way,
                           a=a, b=b))  # fmt: skip
    return out


def gen_value(c: _Ctx, n: int, rng: random.Random) -> list[dict]:
    groups = {}
    for m in c.schema.measures:
        subjects = c.g.edges.get(m.relation, {})
        groups[m.name] = [
            (m, s)
            for s in sorted(subjects)
            if c.topic(s) and (s not in c.g.items) == m.of_people and c.g.value(m.relation, s)
        ]
    say, out = _Phraser(c.schema, rng), []
    for m, s in _draw({k: v for k, v in groups.items() if v}, n, rng):
        slot = "p" if m.of_people else "f"
        q = say.say(f"value:{m.name}", **{slot: c.g.label(s)})
        out.append(_record("value", f"value/{m.name}", q, [c.g.value(m.relation, s)],
                           [c.g.label(s)], measure=m.relation, subject=s))  # fmt: skip
    return out


GENERATORS: dict[str, Callable[[_Ctx, int, random.Random], list[dict]]] = {
    "count": gen_count,
    "yes_no": gen_yes_no,
    "two_constraints": gen_two_constraints,
    "value_constraint": gen_value_constraint,
    "superlative": gen_superlative,
    "comparison": gen_comparison,
    "value": gen_value,
}


def generate(g: Graph, schema: Schema, *, n: int, seed: int = 0, types=TYPES) -> list[dict]:
    """Up to ``n`` questions of each type (fewer where the graph has fewer), each type
    drawn from its own ``random.Random(f"{seed}:{type}")``, so a type's questions do not
    change when another type's generator does."""
    c = _Ctx(g, schema)
    out: list[dict] = []
    for t in types:
        out += GENERATORS[t](c, n, random.Random(f"{seed}:{t}"))
    return out
