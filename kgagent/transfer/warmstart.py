"""Target components initialised from a bundle: rows mapped through the alignment.

A weight that does not depend on the vocabulary (the policy's LSTM, scoring head and
query projection; the projection of relation phrase features) moves as it is, after a
shape check. A vocabulary table (KG embedding rows; the policy's action, query-relation
and entity rows) is rebuilt for the target: aligned rows are copied from their source
row, the others initialised by :func:`~kgagent.transfer.align.fill_rows`. Buffers that
describe the target itself (the policy's relation phrase features) are the target's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from kgagent.transfer.align import Alignment, fill_report, fill_rows
from kgagent.transfer.checkpoint import Bundle, TransferError

__all__ = ["action_alignment", "map_rows", "warm_embedding", "warm_policy"]


def map_rows(
    source_rows: np.ndarray,
    index: np.ndarray,
    *,
    edges: np.ndarray | None = None,
    features: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """(n_target, d) rows: source row ``index[i]`` where >= 0, filled elsewhere.

    Returns the rows, the (n_target,) mask of transferred rows and the fill counts.
    """
    src = np.asarray(source_rows, dtype=np.float32)
    index = np.asarray(index, dtype=np.int64)
    known = index >= 0
    rows = np.zeros((len(index), src.shape[1]), dtype=np.float32)
    rows[known] = src[index[known]]
    if not known.any():
        raise TransferError("no target row has a source counterpart: nothing to transfer")
    rows, how = fill_rows(rows, known, edges=edges, features=features, seed=seed)
    return rows, known, fill_report(how)


def action_alignment(relations: Alignment, num_source_relations: int) -> np.ndarray:
    """(2 R_t + 2,) source action row per target action row: forward relations, their
    inverses (``r + R``), STOP, then the START token."""
    a, rs = relations.source, int(num_source_relations)
    inverse = np.where(a >= 0, a + rs, -1)
    return np.concatenate([a, inverse, [2 * rs, 2 * rs + 1]]).astype(np.int64)


def warm_policy(
    bundle: Bundle,
    *,
    adj,
    relations: Sequence[str],
    relation_alignment: Alignment,
    entity_alignment: Alignment | None = None,
    action_features: np.ndarray | None = None,
    config=None,
    edges: np.ndarray | None = None,
    reset: Sequence[str] = (),
    shrink: Sequence[str] = (),
    keep: float = 1.0,
) -> tuple[Any, dict[str, np.ndarray | None], dict[str, Any]]:
    """A :class:`~kgagent.policy.PathReasoner` for the target graph from the bundle's policy.

    Args:
        bundle: holds a ``policy`` component.
        adj: the target graph's adjacency.
        relations: the target relation terms.
        relation_alignment: target relation -> source relation.
        entity_alignment: target entity -> source entity (relation mode with entity
            embeddings only).
        action_features: (2 R_t + 1, f) phrase vectors of the target's relations
            (+ a zero STOP row), required if the source policy was trained with them;
            they also fill the action rows of unaligned relations (least squares).
        config: the target's :class:`~kgagent.policy.PolicyConfig` (training options);
            its ``mode`` and ``dim`` come from the source network.
        edges: (e, 2) target entity pairs, to fill unaligned entity rows.
        reset: parameter-name prefixes not to move (they keep the target network's
            seeded initialisation; see the ``reset-head`` strategy).
        shrink, keep: parameter-name prefixes moved as ``keep * source + (1 - keep) *
            fresh`` (the ``shrink-perturb`` strategy).

    Returns:
        (reasoner, transferred rows per parameter for :func:`apply_strategy`, report).
    """
    import torch

    from kgagent.policy import PolicyConfig, create_reasoner

    cfg = bundle.config("policy")
    net, saved = cfg["network"], cfg.get("policy", {})
    if net.get("kind") == "edge":
        raise TransferError(
            f"{bundle.directory}: an edge-walk (MINERVA) policy scores the source graph's own "
            "entity ids at every step; moving it is not supported: transfer the embeddings, "
            "or a set-walk policy (PolicyConfig.walk='set')"
        )
    known_fields = {f.name for f in dataclasses.fields(PolicyConfig)}
    config = config or PolicyConfig(**{k: v for k, v in saved.items() if k in known_fields})
    config = dataclasses.replace(config, mode=net["mode"], dim=net["dim"])
    r_src = (int(net["num_actions"]) - 1) // 2
    r_tgt = int(adj.num_base_relations)
    if len(relation_alignment) != r_tgt or relation_alignment.num_source != r_src:
        raise TransferError(
            f"relation alignment is {len(relation_alignment)} -> {relation_alignment.num_source}"
            f", the graphs have {r_tgt} and {r_src} relations"
        )
    kge_feats = [k for k in ("entity_features", "query_features") if net.get(k)]
    if kge_feats:
        raise TransferError(
            f"{bundle.directory}: the policy reads KGE feature tables ({', '.join(kge_feats)}) "
            "of its own graph's ids; moving those is not supported: transfer the embeddings "
            "and train the target policy on them"
        )
    feats = int(net.get("action_features") or 0)
    if feats and action_features is None:
        raise TransferError(
            f"{bundle.directory}: the policy reads relation phrase vectors ({feats}-d); give "
            "the target's (the agent's retriever has them)"
        )
    if feats and np.asarray(action_features).shape[1] != feats:
        raise TransferError(
            f"{bundle.directory}: the policy's relation features are {feats}-d, the target's "
            f"{np.asarray(action_features).shape[1]}-d (another encoder?)"
        )
    target = create_reasoner(
        adj,
        relations,
        config=config,
        query_dim=int(net.get("query_dim") or 384),
        action_features=action_features if feats else None,
    )
    state = target.network.state_dict()
    src = bundle.tensors("policy")
    path = bundle.directory / bundle.entry("policy")["weights"]["file"]
    acts = action_alignment(relation_alignment, r_src)
    tables: dict[str, tuple[np.ndarray, np.ndarray | None, np.ndarray | None]] = {
        "action.weight": (acts, _action_features(action_features, feats), None),
        "query_relation.weight": (acts[: 2 * r_tgt], None, None),
    }
    if entity_alignment is not None:
        tables["entity.weight"] = (entity_alignment.source, None, edges)
    transferred: dict[str, np.ndarray | None] = {}
    report: dict[str, Any] = {"copied": [], "mapped": {}, "kept": [], "reset": [], "shrunk": []}
    for name, tensor in state.items():
        if name == "action_features":
            report["kept"].append(name)  # the target's own relation phrases
            continue
        if any(name == p or name.startswith(p + ".") for p in reset):
            report["reset"].append(name)
            continue
        if name not in src:
            raise TransferError(f"{path}: no tensor {name!r} (the target network needs it)")
        if name in tables:
            index, features, edge_rows = tables[name]
            if name == "entity.weight" and src[name].shape[0] != entity_alignment.num_source:
                raise TransferError(
                    f"{path}: tensor {name!r} has {src[name].shape[0]} rows, the source "
                    f"vocabulary {entity_alignment.num_source} entities"
                )
            if name == "query_relation.weight" and r_tgt == 0:
                continue
            _check_width(path, name, src[name], tensor)
            rows, known, fills = map_rows(
                src[name].numpy(), index, edges=edge_rows, features=features, seed=config.seed
            )
            state[name] = torch.as_tensor(rows)
            transferred[name] = known
            report["mapped"][name] = fills
        else:
            if tuple(src[name].shape) != tuple(tensor.shape):
                raise TransferError(
                    f"{path}: tensor {name!r} has shape {tuple(src[name].shape)}, the target "
                    f"network needs {tuple(tensor.shape)} (dim / encoder differ?)"
                )
            state[name] = src[name].to(tensor.dtype)
            if any(name == p or name.startswith(p + ".") for p in shrink):
                state[name] = keep * state[name] + (1.0 - keep) * tensor
                report["shrunk"].append(name)
            transferred[name] = None
            report["copied"].append(name)
    target.network.load_state_dict(state)
    return target, transferred, report


def _action_features(features: np.ndarray | None, width: int) -> np.ndarray | None:
    """(A + 1, f) features per action table row (START has none) for the fill's map."""
    if features is None or not width:
        return None
    f = np.asarray(features, dtype=np.float32)
    return np.concatenate([f, np.zeros((1, f.shape[1]), dtype=np.float32)])


def _check_width(path, name: str, src, tensor) -> None:
    if src.dim() != 2 or tuple(src.shape[1:]) != tuple(tensor.shape[1:]):
        raise TransferError(
            f"{path}: tensor {name!r} has shape {tuple(src.shape)}, the target needs rows of "
            f"{tuple(tensor.shape[1:])}"
        )


def warm_embedding(
    bundle: Bundle,
    *,
    entity_alignment: Alignment,
    relation_alignment: Alignment,
    edges: np.ndarray | None = None,
    entity_features: np.ndarray | None = None,
    relation_features: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[Any, dict[str, np.ndarray | None], dict[str, Any]]:
    """A KG embedding of the bundle's model type over the target vocabulary.

    Unaligned entity rows start from their aligned neighbours (``edges``: the target's
    (head, tail) pairs), then the label-encoder map (``entity_features``); unaligned
    relations from ``relation_features``, else the aligned mean.

    Returns (model, transferred rows per parameter, report).
    """
    import torch

    from kgagent.embeddings import get_model_class

    cfg = bundle.config("embeddings")
    path = bundle.directory / bundle.entry("embeddings")["weights"]["file"]
    cls = get_model_class(cfg["model"])
    model = cls(
        num_entities=len(entity_alignment),
        num_relations=len(relation_alignment),
        dim=int(cfg["dim"]),
        **cfg.get("hyperparameters", {}),
    )
    state = model.state_dict()
    src = bundle.tensors(
        "embeddings",
        expect={
            "entity": (int(cfg["num_entities"]), state["entity"].shape[1]),
            "relation": (int(cfg["num_relations"]), state["relation"].shape[1]),
        },
    )
    if src["entity"].shape[0] != entity_alignment.num_source:
        raise TransferError(
            f"{path}: {src['entity'].shape[0]} entity rows, the bundle's vocabulary "
            f"{entity_alignment.num_source}"
        )
    ent, ent_known, ent_fill = map_rows(
        src["entity"].numpy(),
        entity_alignment.source,
        edges=edges,
        features=entity_features,
        seed=seed,
    )
    rel, rel_known, rel_fill = map_rows(
        src["relation"].numpy(), relation_alignment.source, features=relation_features, seed=seed
    )
    state["entity"], state["relation"] = torch.as_tensor(ent), torch.as_tensor(rel)
    for name in set(src) - {"entity", "relation"}:
        if tuple(src[name].shape) != tuple(state[name].shape):
            raise TransferError(f"{path}: tensor {name!r} has shape {tuple(src[name].shape)}")
        state[name] = src[name]
    model.load_state_dict(state)
    transferred = {"entity": ent_known, "relation": rel_known}
    return model, transferred, {"mapped": {"entity": ent_fill, "relation": rel_fill}}
