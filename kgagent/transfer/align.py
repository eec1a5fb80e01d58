"""Vocabulary alignment between a source and a target graph, and rows for what is unmatched.

A learned table (KG embedding rows, a policy's action or entity rows) is only meaningful
with the ids it was trained on. To reuse it on another graph each *target* id needs a
source row: the same IRI first (the graphs share a vocabulary), then the same label
(the same thing under another IRI, as when two datasets mint their own IRIs for one
film) — as written, then normalised, since normalising can make distinct labels collide
("Heat" the film, "heat" the tag) and a label shared by several source rows matches
nothing — then optionally the nearest label in a sentence-encoder space (a
relation called "directed by" in one graph and "director" in another). Every stage only
considers what the earlier ones left unmatched, and a source row is used once per stage,
so one source entity does not silently stand in for many target ones.

Target rows still without a counterpart are initialised from what *is* aligned, never
left at zero (a zero row is a point every query scores alike): the mean of their aligned
neighbours' rows (propagated a few rounds over the target graph), else a ridge
least-squares map from their label-encoder vectors to the source rows, fitted on the
aligned pairs, else the mean aligned row plus noise of the aligned rows' spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kgagent.text import fold_label

__all__ = [
    "FILL_METHODS",
    "METHODS",
    "Alignment",
    "align",
    "fill_report",
    "fill_rows",
    "normalize_label",
]

#: alignment method codes (index = code); "none" means unaligned
METHODS = ("none", "iri", "label", "embedding")
#: how an unaligned row was initialised (``fill_rows``); "source" means it was aligned
FILL_METHODS = ("source", "neighbours", "features", "mean")

#: a label as a key for matching (kept under its old name; see :func:`kgagent.text.fold_label`)
normalize_label = fold_label


@dataclass(frozen=True)
class Alignment:
    """Target id -> source id, with how each pair was found.

    Attributes:
        source: (n_target,) int64 source row of each target row, -1 where unaligned.
        method: (n_target,) int8 index into :data:`METHODS`.
        score: (n_target,) float32 match confidence: 1 for IRI and label matches, the
            cosine similarity for embedding matches, 0 where unaligned.
        num_source: rows of the source vocabulary.
    """

    source: np.ndarray
    method: np.ndarray
    score: np.ndarray
    num_source: int

    @property
    def mask(self) -> np.ndarray:
        """(n_target,) bool: rows that have a source counterpart."""
        return self.source >= 0

    def __len__(self) -> int:
        return len(self.source)

    def coverage(self) -> dict[str, Any]:
        """Counts and fractions per method (of the target vocabulary), and the share of
        the source vocabulary that found a use."""
        n = max(1, len(self.source))
        counts = np.bincount(self.method.astype(np.int64), minlength=len(METHODS))
        used = len(np.unique(self.source[self.mask]))
        return {
            "target": len(self.source),
            "source": int(self.num_source),
            "aligned": int(self.mask.sum()),
            "fraction": round(float(self.mask.sum()) / n, 4),
            "source_used": round(used / max(1, self.num_source), 4),
            "by_method": {
                m: {"count": int(c), "fraction": round(float(c) / n, 4)}
                for m, c in zip(METHODS, counts.tolist(), strict=True)
            },
        }


def unique_match(src_keys: np.ndarray, src_ok: np.ndarray, tgt_keys: np.ndarray) -> np.ndarray:
    """(n_target,) source index of the one usable source row with the same key, else -1.

    Sorted search over string arrays instead of a per-row dictionary walk; a key shared
    by several usable source rows is ambiguous and matches nothing.
    """
    out = np.full(len(tgt_keys), -1, dtype=np.int64)
    cand = np.flatnonzero(src_ok)
    if not len(cand) or not len(tgt_keys):
        return out
    keys, first, counts = np.unique(src_keys[cand], return_index=True, return_counts=True)
    pos = np.clip(np.searchsorted(keys, tgt_keys), 0, len(keys) - 1)
    hit = (keys[pos] == tgt_keys) & (counts[pos] == 1)
    out[hit] = cand[first[pos[hit]]]
    return out


def align(
    *,
    source_terms: Sequence[str],
    target_terms: Sequence[str],
    source_labels: Sequence[str] | None = None,
    target_labels: Sequence[str] | None = None,
    encoder: Any = None,
    threshold: float = 0.85,
    batch_size: int = 2048,
) -> Alignment:
    """Aligns a target vocabulary to a source one: IRI, then label, then (optionally) encoder.

    Args:
        source_terms: the source ids' terms (N-Triples ``<IRI>`` or plain), in id order.
        target_terms: the same for the target.
        source_labels: human labels of the source ids (None: no label stage).
        target_labels: the same for the target.
        encoder: an encoder (``encode(texts) -> (n, d)``) for the similarity stage, e.g.
            the retrieval encoder; None skips it.
        threshold: the least cosine similarity an encoder match needs; pairs must also
            be each other's best match (mutual nearest neighbours), which keeps a
            generic label from attracting many rows.
        batch_size: target rows scored against all source rows at once.
    """
    src = np.asarray(list(source_terms), dtype=str)
    tgt = np.asarray(list(target_terms), dtype=str)
    n_src = len(src)
    source = unique_match(src, np.ones(n_src, dtype=bool), tgt)
    method = np.where(source >= 0, 1, 0).astype(np.int8)
    score = (source >= 0).astype(np.float32)
    if source_labels is None or target_labels is None:
        return Alignment(source, method, score, n_src)
    if len(source_labels) != n_src or len(target_labels) != len(tgt):
        raise ValueError("labels must be given for every term, in id order")
    used = np.zeros(n_src, dtype=bool)
    # the label as written first (normalising can make distinct labels collide: "Heat"
    # the film and "heat" the tag), then the normalised form for what is left
    for norm in (str.strip, normalize_label):
        s_lab = np.asarray([norm(str(x)) for x in source_labels], dtype=str)
        t_lab = np.asarray([norm(str(x)) for x in target_labels], dtype=str)
        used[source[source >= 0]] = True
        todo = np.flatnonzero((source < 0) & (t_lab != ""))
        hit = unique_match(s_lab, ~used & (s_lab != ""), t_lab[todo])
        found = hit >= 0
        source[todo[found]], method[todo[found]], score[todo[found]] = hit[found], 2, 1.0
    if encoder is None:
        return Alignment(source, method, score, n_src)
    used[source[source >= 0]] = True
    t_rows = np.flatnonzero((source < 0) & (t_lab != ""))
    s_rows = np.flatnonzero(~used & (s_lab != ""))
    if len(t_rows) and len(s_rows):
        pick, sim = _mutual_nearest(
            _unit(encoder.encode([target_labels[i] for i in t_rows.tolist()])),
            _unit(encoder.encode([source_labels[i] for i in s_rows.tolist()])),
            batch_size,
        )
        ok = (pick >= 0) & (sim >= threshold)
        source[t_rows[ok]], method[t_rows[ok]] = s_rows[pick[ok]], 3
        score[t_rows[ok]] = np.minimum(sim[ok], 1.0)
    return Alignment(source, method, score, n_src)


def _unit(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _mutual_nearest(t: np.ndarray, s: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``t`` (n, d): its best row of ``s`` (m, d) and the cosine, or -1
    where that source row's own best target is another row. Scored in target chunks so
    memory stays at ``batch * m`` floats."""
    best_s = np.empty(len(t), dtype=np.int64)
    best_sim = np.empty(len(t), dtype=np.float32)
    back_sim = np.full(len(s), -np.inf, dtype=np.float32)
    back_t = np.full(len(s), -1, dtype=np.int64)
    for b in range(0, len(t), batch):
        sims = t[b : b + batch] @ s.T  # (chunk, m)
        best_s[b : b + batch] = sims.argmax(1)
        best_sim[b : b + batch] = sims.max(1)
        col_best = sims.argmax(0)  # (m,)
        col_sim = sims[col_best, np.arange(len(s))]
        better = col_sim > back_sim
        back_sim[better], back_t[better] = col_sim[better], col_best[better] + b
    mutual = back_t[best_s] == np.arange(len(t))
    return np.where(mutual, best_s, -1), best_sim


def fill_rows(
    rows: np.ndarray,
    known: np.ndarray,
    *,
    edges: np.ndarray | None = None,
    features: np.ndarray | None = None,
    rounds: int = 2,
    ridge: float = 1e-2,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Initialises the unknown rows of a table from the known ones.

    Args:
        rows: (n, d) table; rows where ``known`` is False are overwritten.
        known: (n,) bool, the rows transferred from the source.
        edges: (e, 2) id pairs of the target graph (heads, tails; direction ignored):
            a row's aligned neighbours stand in for it (their mean), over ``rounds``
            rounds so that two-hop neighbours also count.
        features: (n, f) label-encoder vectors: a ridge least-squares map from features
            to rows, fitted on the known rows, gives the rest.
        rounds: neighbour propagation rounds.
        ridge: L2 weight of the least-squares map (scaled by the feature energy).
        seed: the noise of the last-resort fill.

    Returns:
        The filled (n, d) float32 table, and (n,) int8 codes into :data:`FILL_METHODS`.
    """
    out = np.array(rows, dtype=np.float32, copy=True)
    have = np.asarray(known, dtype=bool).copy()
    how = np.where(have, 0, -1).astype(np.int8)
    if have.all() or not len(out):
        return out, how
    if not have.any():
        raise ValueError("no aligned row to initialise the others from")
    if edges is not None and len(edges):
        from scipy import sparse

        e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
        e = e[e[:, 0] != e[:, 1]]
        n = len(out)
        ones = np.ones(2 * len(e), dtype=np.float32)
        adj = sparse.csr_matrix(
            (ones, (np.r_[e[:, 0], e[:, 1]], np.r_[e[:, 1], e[:, 0]])), shape=(n, n)
        )
        adj.data[:] = 1.0  # parallel edges count once
        for _ in range(max(1, rounds)):
            w = have.astype(np.float32)
            count = adj @ w  # (n,) known neighbours
            new = (~have) & (count > 0)
            if not new.any():
                break
            summed = adj[new] @ (out * w[:, None])  # (k, d)
            out[new] = summed / count[new][:, None]
            have |= new
            how[new] = 1
    rest = ~have
    if rest.any() and features is not None:
        x = np.asarray(features, dtype=np.float64)
        x = np.concatenate([x, np.ones((len(x), 1))], axis=1)  # + bias
        xk = x[np.asarray(known, dtype=bool)]
        yk = np.asarray(rows, dtype=np.float64)[np.asarray(known, dtype=bool)]
        lam = ridge * max(1e-12, float((xk**2).sum()) / max(1, len(xk)))
        gram = xk.T @ xk + lam * np.eye(x.shape[1])
        w_map = np.linalg.solve(gram, xk.T @ yk)  # (f + 1, d)
        out[rest] = (x[rest] @ w_map).astype(np.float32)
        how[rest] = 2
        rest[:] = False
    if rest.any():
        ref = out[np.asarray(known, dtype=bool)]
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((int(rest.sum()), out.shape[1])).astype(np.float32)
        scale = np.maximum(ref.std(0), 1e-3 * (float(np.abs(ref).mean()) + 1e-6))
        out[rest] = ref.mean(0) + noise * scale
        how[rest] = 3
    return out, how


def fill_report(how: np.ndarray) -> dict[str, int]:
    """Counts of :func:`fill_rows` codes by name."""
    counts = np.bincount(how.astype(np.int64), minlength=len(FILL_METHODS))
    return {m: int(c) for m, c in zip(FILL_METHODS, counts.tolist(), strict=True)}
