"""Training questions generated from the graph itself, by ontology-driven templates.

For users with a KG but no QA data: each relation's label fills question templates,
forwards ("what is the directed by of X" reads badly but teaches the relation) and
backwards ("what has directed by Y"), and two-relation chains for multi-hop questions.
Answers are every entity the relation (chain) reaches, labelled as
the reader shows them, so the fine-tuned reader learns to pick relation chains.
"""

from __future__ import annotations

import random
from collections import defaultdict

import numpy as np
from rdflib.namespace import SKOS

from kgagent.kg.terms import iri_of
from kgagent.pipeline.graph import SCHEMA_NAMESPACES
from kgagent.qa import QAItem

__all__ = ["synthesize"]

_FORWARD = (
    "what is the {rel} of [{x}]?",
    "what {rel} does [{x}] have?",
    "[{x}] {rel}?",
    "tell me the {rel} of [{x}]",
)
_BACKWARD = (
    "what has {rel} [{x}]?",
    "which things have [{x}] as {rel}?",
    "what is [{x}] the {rel} of?",
)
_CHAIN = (
    "what is the {rel2} of the {rel1} of [{x}]?",
    "the {rel1} of [{x}] has which {rel2}?",
)


def synthesize(agent, *, n: int = 400, seed: int = 0, multi_hop: float = 0.3) -> list[QAItem]:
    """``n`` questions (about ``multi_hop`` of them two-hop) with their gold answers."""
    from kgagent.retrieval.verbalize import Verbalizer

    rng = random.Random(seed)
    r = agent.retriever
    verbalizer = Verbalizer(agent.kg.ontology)
    facts = r.facts
    s_col, p_col = facts.column("s"), facts.column("p")
    by_rel: dict[str, list[int]] = defaultdict(list)
    for row, p in enumerate(p_col.tolist()):
        by_rel[p].append(row)
    # the schema's own predicates (rdf:type, rdfs:comment, owl:disjointWith ...) make poor
    # questions; users ask about the domain's relations
    rels = [p for p in by_rel if p in r.relation_index and not _no_questions(p)]
    if not rels:
        return []
    out: list[QAItem] = []
    n_chain = int(n * multi_hop)
    tries = 0
    while len(out) < n - n_chain and tries < 20 * n:
        tries += 1
        p = rng.choice(rels)
        row = rng.choice(by_rel[p])
        rid = r.relation_index[p]
        backward = rng.random() < 0.3 and not facts.fact(row).object_is_literal
        f = facts.fact(row, labels=r.label)
        topic_term = facts.column("o")[row] if backward else s_col[row]
        rows = facts.rows_touching(topic_term)
        same = [x for x in rows.tolist() if p_col[x] == p]
        if backward:
            same = [x for x in same if facts.column("o")[x] == topic_term]
            answers = [facts.fact(x, labels=r.label).subject_label for x in same]
            x_label, tmpl = f.object_label, rng.choice(_BACKWARD)
        else:
            same = [x for x in same if s_col[x] == topic_term]
            answers = [facts.fact(x, labels=r.label).object_label for x in same]
            x_label, tmpl = f.subject_label, rng.choice(_FORWARD)
        if not answers or len(answers) > 50:
            continue
        rel = r.relation_texts[rid].lower()
        if rng.random() < 0.5:  # the relation's own sentence with a wh-word in the gap
            sentence = verbalizer.templates(iri_of(p)).forward
            wh = rng.choice(("what", "who", "which"))
            filled = (
                sentence.format(subject=wh, object=f"[{x_label}]")
                if backward
                else sentence.format(subject=f"[{x_label}]", object=wh)
            )
            question = filled.rstrip(".") + "?"
        else:
            question = tmpl.format(rel=rel, x=x_label)
        out.append(QAItem(question, tuple(dict.fromkeys(answers))))
    adj = r.adj
    R = adj.num_base_relations
    nodes = np.flatnonzero(np.diff(adj.indptr) > 0)
    tries = 0
    while len(out) < n and len(nodes) and tries < 20 * n:
        tries += 1
        src = int(rng.choice(nodes.tolist()))
        rels1, mids = adj.neighbors(src)
        fwd = (rels1 < R) & ~np.array([_no_questions(r.relation_terms[int(x) % R]) for x in rels1])
        if not fwd.any():
            continue
        i = rng.choice(np.flatnonzero(fwd).tolist())
        r1, mid = int(rels1[i]), int(mids[i])
        rels2, _ = adj.neighbors(mid)
        options = [
            int(x)
            for x in np.unique(rels2[rels2 < R])
            if x != r1 and not _no_questions(r.relation_terms[int(x)])
        ]
        if not options:
            continue
        r2 = rng.choice(options)
        ends = set()
        for m in mids[rels1 == r1].tolist():
            rr, tt = adj.neighbors(m)
            ends.update(tt[rr == r2].tolist())
        ends.discard(src)
        if not ends or len(ends) > 50:
            continue
        labels = [r.label(iri_of(r.entity_terms[e])) for e in sorted(ends)]
        q = rng.choice(_CHAIN).format(
            rel1=r.relation_texts[r1].lower(),
            rel2=r.relation_texts[r2].lower(),
            x=r.label(iri_of(r.entity_terms[src])),
        )
        out.append(QAItem(q, tuple(labels)))
    rng.shuffle(out)
    return out


#: predicates no user asks about: the schema's own, and SKOS's
_SKIPPED = (*SCHEMA_NAMESPACES, f"<{SKOS}")


def _no_questions(term: str) -> bool:
    return term.startswith(_SKIPPED)
