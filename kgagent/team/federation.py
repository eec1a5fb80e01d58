"""The team's view of its members' graphs: one entity space, one relation space, and a
walk that expands entity sets through every member's own edges.

Entities are matched across graphs by IRI, then by ``owl:sameAs`` (in either graph,
transitively), then by label as written, and optionally by normalised label (case,
punctuation and camelCase folded, see :func:`kgagent.transfer.align.normalize_label`),
one-to-one only: a label shared by several candidates on either side matches nothing.
Relations are matched by IRI. Each member's edges are kept apart, mapped to team ids,
with the local triple behind every team edge, so a walk knows which member (and which of
its facts) supports each hop: the federated walk asks each member's adjacency in turn and
unions what they reach. The members keep the facts' text; the team holds ids only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kgagent.errors import KGAgentError
from kgagent.kg.adjacency import Adjacency
from kgagent.pipeline.graph import is_schema
from kgagent.policy.env import RelationWalk
from kgagent.team.messages import SAME_AS, MemberInfo

__all__ = ["DEFAULT_MATCH", "MATCHERS", "FederatedWalk", "Federation", "MemberEdges"]

#: how entities may be matched across graphs, in the order they are tried
MATCHERS = ("iri", "same_as", "label", "normalized_label")
#: the default: labels as written only (normalising would make "Tom Hanks" the person and
#: "tom hanks" a tag one entity, as MetaQA's tags would)
DEFAULT_MATCH = ("iri", "same_as", "label")


@dataclass(frozen=True)
class MemberEdges:
    """One member's edges in team ids, both directions, in CSR order.

    ``adj`` has relation ``r + R`` for the inverse of team relation ``r``; ``local[i]``
    is the member's own (subject, relation, object) triple behind CSR edge ``i``.
    """

    adj: Adjacency
    local: np.ndarray  # (2E, 3) int64


class FederatedWalk(RelationWalk):
    """A :class:`~kgagent.policy.env.RelationWalk` whose edges are the union of the
    members' edges: each expansion asks every member's adjacency and unions the result.

    The policy network and its beam search see one walk; which member supports a hop is
    recovered when the walk's facts are gathered (:meth:`Federation.expand`).
    """

    def __init__(self, parts: Sequence[Adjacency], **kwargs) -> None:
        if kwargs.get("weights", "uniform") != "uniform":  # walk mass reads one CSR only
            raise KGAgentError("a federated walk spreads a walk's answers uniformly")
        super().__init__(parts[0], **kwargs)
        self.parts = list(parts)

    def _edges(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(nodes) > self.max_nodes:
            nodes = nodes[np.linspace(0, len(nodes) - 1, self.max_nodes).astype(np.int64)]
        rels, tails = zip(*(p.out_edges(nodes) for p in self.parts), strict=True)
        return np.concatenate(rels), np.concatenate(tails)


class Federation:
    """Team ids for the members' entities and relations, and their edges in those ids.

    Args:
        infos: what each member sent (:class:`~kgagent.team.messages.MemberInfo`).
        match: the entity matchers to use, a subset of :data:`MATCHERS`.

    Attributes:
        to_team: per member, (n_local,) team entity id of each local entity.
        to_local: per member, (n_team,) a local id of each team entity, -1 where the
            member does not hold it.
        rel_to_team: per member, (R_local,) team relation of each local relation (-1 for
            ``owl:sameAs``, which merges entities instead of linking them).
        entity_terms, entity_labels: per team entity, the first holder's term and label.
        relation_terms: team relations (N-Triples IRIs), in order of first appearance.
        holders: per team relation, the members that hold it.
        match_counts: per member, how many of its entities each matcher merged.
    """

    def __init__(
        self, infos: Sequence[MemberInfo], *, match: Sequence[str] = DEFAULT_MATCH
    ) -> None:
        unknown = sorted(set(match) - set(MATCHERS))
        if unknown:
            raise KGAgentError(f"match {unknown}: choose from {', '.join(MATCHERS)}")
        if not infos:
            raise KGAgentError("a team needs at least one member")
        if len(infos) > 62:
            raise KGAgentError(f"{len(infos)} members: a team holds at most 62")
        encoders = {i.encoder for i in infos}
        if len(encoders) > 1:
            raise KGAgentError(
                "the members use different retrieval encoders ("
                + ", ".join(f"{i.name}: {i.encoder}" for i in infos)
                + "); a team encodes each question once: index them with the same encoder"
            )
        self.infos = list(infos)
        self.names = [i.name for i in infos]
        self._entities(set(match))
        self._relations()
        self.edges = [self._member_edges(m) for m in range(len(infos))]
        self.num_entities = len(self.entity_terms)
        self.num_relations = len(self.relation_terms)
        self._lock = threading.Lock()
        self._local_index: list[dict[str, int] | None] = [None] * len(infos)
        # team action (forward r, inverse r + R) -> members holding it
        R = self.num_relations
        self.action_members = np.zeros((2 * R + 1, len(infos)), dtype=bool)  # + STOP row
        for r, ms in enumerate(self.holders):
            self.action_members[r, ms] = self.action_members[r + R, ms] = True
        self.action_members[2 * R] = True
        #: (2R,) bool: actions of RDF / RDFS / OWL relations (labels, types, axioms)
        self.schema_actions = np.array([is_schema(t) for t in self.relation_terms] * 2, bool)

    # -- entities -------------------------------------------------------------------------

    def _entities(self, match: set[str]) -> None:
        from kgagent.transfer.align import normalize_label

        infos = self.infos
        sizes = [len(i.entity_terms) for i in infos]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        owner = np.repeat(np.arange(len(infos)), sizes)
        terms = np.asarray([t for i in infos for t in i.entity_terms], dtype=object)
        labels = [lab for i in infos for lab in i.entity_labels]
        n = len(terms)
        pairs: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)]
        counts = [dict.fromkeys(MATCHERS, 0) for _ in infos]
        if "iri" in match and n:
            _, first, inverse = np.unique(terms.astype(str), return_index=True, return_inverse=True)
            rep = first[inverse]
            same = np.flatnonzero(rep != np.arange(n))
            pairs.append(np.stack([same, rep[same]], axis=1))
            for m, c in zip(*np.unique(owner[same], return_counts=True), strict=True):
                counts[int(m)]["iri"] = int(c)
        if "same_as" in match:
            for m, info in enumerate(infos):
                if len(info.same_as):
                    pairs.append(np.asarray(info.same_as, dtype=np.int64) + offsets[m])
                    counts[m]["same_as"] = len(info.same_as)
        comp = _components(n, pairs)
        for matcher, key in (("label", str.strip), ("normalized_label", normalize_label)):
            if matcher not in match:
                continue
            keys = np.asarray([key(str(x)) for x in labels], dtype=str)
            for m in range(1, len(infos)):
                found = _label_pairs(comp, owner, offsets, keys, m)
                pairs.append(found)
                counts[m][matcher] = len(found)
                comp = _components(n, pairs)
        # team ids in order of first appearance (member order, then local id order)
        first = _first_node(comp, comp.max() + 1 if n else 0)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        team = rank[comp] if n else np.zeros(0, dtype=np.int64)
        self.entity_terms = [str(terms[i]) for i in first[order].tolist()]
        self.entity_labels = [labels[i] for i in first[order].tolist()]
        self.to_team = [team[offsets[m] : offsets[m + 1]] for m in range(len(infos))]
        self.to_local = []
        for m in range(len(infos)):
            loc = np.full(len(order), -1, dtype=np.int64)
            local = np.arange(sizes[m], dtype=np.int64)
            loc[self.to_team[m][::-1]] = local[::-1]  # the first local id wins
            self.to_local.append(loc)
        self.match_counts = {info.name: c for info, c in zip(infos, counts, strict=True)}
        self.entity_id = {t: i for i, t in enumerate(self.entity_terms)}

    # -- relations ------------------------------------------------------------------------

    def _relations(self) -> None:
        terms: dict[str, int] = {}
        self.rel_to_team, self.holders = [], []
        self.relation_texts_fwd, self.relation_texts_inv, vec_fwd, vec_inv = [], [], [], []
        for m, info in enumerate(self.infos):
            R = len(info.relation_terms)
            mapping = np.full(R, -1, dtype=np.int64)
            for r, term in enumerate(info.relation_terms):
                if term == SAME_AS:
                    continue
                if term not in terms:
                    terms[term] = len(terms)
                    self.holders.append([])
                    self.relation_texts_fwd.append(info.relation_texts[r])
                    self.relation_texts_inv.append(info.relation_texts[r + R])
                    vec_fwd.append(info.relation_vectors[r])
                    vec_inv.append(info.relation_vectors[r + R])
                mapping[r] = terms[term]
                self.holders[terms[term]].append(m)
            self.rel_to_team.append(mapping)
        self.relation_terms = list(terms)
        if not self.relation_terms:
            raise KGAgentError("the members' graphs have no relations between entities")
        #: (2R,) how each team relation reads forward, then inverse
        self.relation_texts = self.relation_texts_fwd + self.relation_texts_inv
        #: (2R, d) their encoder vectors
        self.relation_vectors = np.asarray(vec_fwd + vec_inv, dtype=np.float32)

    def local_index(self, m: int) -> dict[str, int]:
        """Member ``m``'s entity term -> local id (built on first use)."""
        with self._lock:
            if self._local_index[m] is None:
                terms = self.infos[m].entity_terms
                self._local_index[m] = {t: i for i, t in enumerate(terms)}
            return self._local_index[m]

    def team_id(self, term: str) -> int | None:
        """The team entity of a term (N-Triples) any member uses for it."""
        t = self.entity_id.get(term)
        if t is not None:
            return t
        for m in range(len(self.infos)):
            node = self.local_index(m).get(term)
            if node is not None:
                return int(self.to_team[m][node])
        return None

    def walk_for(self, *, max_hops: int = 3, revisit_start: bool = False) -> FederatedWalk:
        """A new federated walk (its caches are its own: give each user its own walk, or
        guard a shared one with one lock)."""
        return FederatedWalk(
            [e.adj for e in self.edges], max_hops=max_hops, revisit_start=revisit_start
        )

    def local_actions(self, m: int) -> np.ndarray:
        """(2 R_local,) team action of each local action of member ``m`` (-1: none)."""
        mapping = self.rel_to_team[m]
        inverse = np.where(mapping >= 0, mapping + len(self.relation_terms), -1)
        return np.concatenate([mapping, inverse])

    def _member_edges(self, m: int) -> MemberEdges:
        info, R = self.infos[m], len(self.relation_terms)
        e = np.asarray(info.edges, dtype=np.int64).reshape(-1, 3)
        rel = self.rel_to_team[m][e[:, 1]] if len(e) else np.zeros(0, dtype=np.int64)
        e, rel = e[rel >= 0], rel[rel >= 0]
        h, t = self.to_team[m][e[:, 0]], self.to_team[m][e[:, 2]]
        team = np.concatenate([np.stack([h, rel, t], 1), np.stack([t, rel + R, h], 1)])
        local = np.concatenate([e, e])
        keep = team[:, 0] != team[:, 2]  # a sameAs merge can turn an edge into a loop
        team, local = team[keep], local[keep]
        _, idx = np.unique(team, axis=0, return_index=True)  # sorted by (h, r, t)
        team, local = team[idx], local[idx]
        counts = np.bincount(team[:, 0], minlength=len(self.entity_terms))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        adj = Adjacency(
            indptr=indptr,
            relations=np.ascontiguousarray(team[:, 1]),
            targets=np.ascontiguousarray(team[:, 2]),
            num_entities=len(self.entity_terms),
            num_relations=2 * R,
            num_base_relations=R,
        )
        return MemberEdges(adj, local)

    # -- walks ----------------------------------------------------------------------------

    def allowed(self, members: Sequence[int]) -> np.ndarray:
        """(2R + 1,) bool: the actions some of ``members`` can take (STOP always)."""
        return self.action_members[:, list(members)].any(axis=1)

    def coverage(self) -> dict[str, dict[str, int]]:
        """Per member: its entities, how many are shared with another member, and how
        each matcher contributed."""
        out = {}
        for m, name in enumerate(self.names):
            team = self.to_team[m]
            shared = sum(
                int(np.isin(team, self.to_team[o]).sum()) if o != m else 0
                for o in range(len(self.names))
            )
            out[name] = {
                "entities": len(team),
                "relations": int((self.rel_to_team[m] >= 0).sum()),
                "shared_entities": min(shared, len(team)),
                **{f"matched_by_{k}": v for k, v in self.match_counts[name].items()},
            }
        return out


def _label_pairs(
    comp: np.ndarray, owner: np.ndarray, offsets: np.ndarray, keys: np.ndarray, m: int
) -> np.ndarray:
    """(k, 2) node pairs joining member ``m``'s entities that no earlier member holds yet
    to the earlier members' entities of the same label key, one-to-one: a key shared by
    two candidates on either side matches nothing."""
    from kgagent.transfer.align import unique_match

    bits = np.zeros(comp.max() + 1, dtype=np.int64)
    np.bitwise_or.at(bits, comp, np.left_shift(1, owner))
    mine, earlier = 1 << m, (1 << m) - 1
    nodes = np.arange(offsets[m], offsets[m + 1])
    alone = nodes[((bits[comp[nodes]] & earlier) == 0) & (keys[nodes] != "")]
    sources = np.flatnonzero(((bits & earlier) != 0) & ((bits & mine) == 0))
    if not len(alone) or not len(sources):
        return np.zeros((0, 2), dtype=np.int64)
    rep = _first_node(comp, len(bits))[sources]  # a node standing for each component
    hit = unique_match(keys[rep], keys[rep] != "", keys[alone])  # (len(alone),)
    _, inverse, counts = np.unique(keys[alone], return_inverse=True, return_counts=True)
    hit[counts[inverse] > 1] = -1
    ok = hit >= 0
    return np.stack([alone[ok], rep[hit[ok]]], axis=1).astype(np.int64)


def _components(n: int, pairs: list[np.ndarray]) -> np.ndarray:
    """(n,) connected-component id of each node under the union of ``pairs``."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if n == 0:
        return np.zeros(0, dtype=np.int64)
    p = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    graph = coo_matrix((np.ones(len(p)), (p[:, 0], p[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return comp.astype(np.int64)


def _first_node(comp: np.ndarray, k: int) -> np.ndarray:
    """(k,) the smallest node of each component."""
    first = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, comp, np.arange(len(comp), dtype=np.int64))
    return first
