"""Moving learned parts between agents: export to a bundle, import into a workspace.

``export_agent`` gathers the agent's KG embedding, path policy and LoRA adapter from its
workspace (each checked against the graph as its own loader would) with the graph's
vocabulary. ``import_bundle`` aligns the bundle's vocabulary to the importing agent's
graph and writes each component into that agent's workspace in its native layout
(``embeddings/NAME``, ``policy/NAME``, ``adapters/NAME``), so the agent uses it as if it
had trained it, and reports the alignment's coverage.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent._io import atomic_dir, atomic_write_json, atomic_write_text
from kgagent.transfer.align import Alignment, align
from kgagent.transfer.checkpoint import COMPONENTS, Bundle, Component, TransferError, write_bundle
from kgagent.workspace import Workspace

if TYPE_CHECKING:
    from kgagent.agents.agent import Agent

__all__ = [
    "action_features",
    "align_agent",
    "export_agent",
    "import_bundle",
    "open_source",
    "vocabulary_of",
]


def vocabulary_of(kg) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    """((entity terms, labels), (relation terms, labels)) of a graph, in id order."""
    label = kg.ontology.label

    def labels(terms: list[str]) -> list[str]:
        return [label(t[1:-1]) if t.startswith("<") else t for t in terms]

    ents, rels = list(kg.vocab.entities.terms), list(kg.vocab.relations.terms)
    return (ents, labels(ents)), (rels, labels(rels))


def _encoder_name(agent: Agent) -> str:
    """The encoder the agent's index (and so its question vectors) was built with."""
    manifest = None if agent.index_dir is None else agent.index_dir / "manifest.json"
    if manifest is not None and manifest.is_file():
        try:
            saved = json.loads(manifest.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise TransferError(f"{manifest}: unreadable ({exc})") from exc
        if isinstance(saved, dict) and isinstance(saved.get("encoder"), str):
            return saved["encoder"]
    return agent.encoder.name


def export_agent(
    agent: Agent,
    path: str | Path,
    *,
    components: Sequence[str] = ("policy",),
    embedding: str | None = None,
    policy: str | None = None,
    adapter: str | None = None,
) -> Path:
    """Writes the agent's learned parts as a bundle (see :mod:`kgagent.transfer.checkpoint`).

    Args:
        agent: an agent with a workspace.
        path: the bundle directory (replaced atomically).
        components: any of "embeddings", "policy", "adapter".
        embedding: the embedding name under ``WS/embeddings/`` (default: the only one).
        policy: the policy name (default: ``config.policy.name``).
        adapter: the adapter name (default: ``config.llm.adapter``).
    """
    if agent.workspace is None:
        raise TransferError("exporting reads the learned parts from a workspace: give one")
    components = _names(components)
    unknown = sorted(set(components) - set(COMPONENTS))
    if unknown or not components:
        raise TransferError(f"components {list(components)}: choose from {', '.join(COMPONENTS)}")
    ws = agent.workspace
    parts = []
    if "embeddings" in components:
        parts.append(_embedding_component(agent, embedding))
    if "policy" in components:
        parts.append(_policy_component(agent, policy or agent.config.policy.name or "default"))
    if "adapter" in components:
        name = adapter or agent.config.llm.adapter or "default"
        parts.append(_adapter_component(ws, name, base_model=agent.config.llm.model))
    entities, relations = vocabulary_of(agent.kg)
    source = {
        "workspace": str(Path(ws).resolve()),
        "agent": agent.config.name,
        "kg_fingerprint": agent.kg.fingerprint(),
        "encoder": _encoder_name(agent),
    }
    return write_bundle(
        path, entities=entities, relations=relations, components=parts, source=source
    )


def _embedding_component(agent: Agent, name: str | None) -> Component:
    from kgagent.embeddings.artifact import load_workspace, only_embedding

    name = name or only_embedding(Path(agent.workspace))
    emb = load_workspace(agent.workspace, name, kg=agent.kg)
    config = emb.model.config()
    config["name"] = name
    config["training"] = emb.config.get("training", {})
    return Component("embeddings", config, dict(emb.model.state_dict()), emb.metrics)


def _policy_component(agent: Agent, name: str) -> Component:
    from kgagent.policy import load_reasoner

    directory = agent.ws.policy_dir(name)
    if not (directory / "config.json").exists():
        raise TransferError(f"{directory}: no such policy (train it with `kgagent policy train`)")
    reasoner = load_reasoner(directory, agent.kg.adjacency(), agent.kg.vocab.relations.terms)
    config = json.loads((directory / "config.json").read_text("utf-8"))
    config["name"] = name
    metrics_path = directory / "metrics.json"
    metrics = json.loads(metrics_path.read_text("utf-8")) if metrics_path.exists() else {}
    metrics.pop("history", None)  # the curve stays in the workspace; the bundle has the result
    return Component("policy", config, dict(reasoner.network.state_dict()), metrics)


def _adapter_component(workspace: Path, name: str, *, base_model: str) -> Component:
    from safetensors.torch import load_file

    directory = Workspace(workspace).adapter_dir(name)
    weights = directory / COMPONENTS["adapter"]
    if not (directory / "adapter_config.json").is_file() or not weights.is_file():
        raise TransferError(
            f"{directory}: no safetensors LoRA adapter (adapter_config.json + {weights.name}); "
            "train one with `kgagent finetune`"
        )
    config = json.loads((directory / "adapter_config.json").read_text("utf-8"))
    metrics_path = directory / "metrics.json"
    metrics = json.loads(metrics_path.read_text("utf-8")) if metrics_path.exists() else {}
    return Component(
        "adapter",
        {"name": name, "peft": config, "base_model": base_model},
        load_file(str(weights)),
        metrics,
        files={"adapter_config.json": (directory / "adapter_config.json").read_bytes()},
        raw=weights.read_bytes(),
    )


def open_source(path: str | Path, *, components: Sequence[str] = ("policy",)) -> Bundle:
    """A bundle directory as it is, or a workspace exported to a temporary bundle."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        return Bundle.load(path)
    if not Workspace(path).is_workspace():
        raise TransferError(f"{path}: neither a transfer bundle (manifest.json) nor a workspace")
    from kgagent.agents import Agent

    out = Path(tempfile.mkdtemp(prefix="kgagent-bundle-")) / "bundle"
    with Agent.open(path) as agent:
        export_agent(agent, out, components=components)
    return Bundle.load(out)


def align_agent(
    bundle: Bundle, kg, *, labels: bool = True, encoder: Any = None, threshold: float = 0.85
) -> tuple[Alignment, Alignment]:
    """(entity, relation) alignments of a target graph to a bundle's vocabulary.

    ``labels=False`` aligns by IRI only (an ablation: what the labels add).
    """
    (ent_t, ent_l), (rel_t, rel_l) = vocabulary_of(kg)
    out = []
    for (s_terms, s_labels), t_terms, t_labels in (
        (bundle.entities, ent_t, ent_l),
        (bundle.relations, rel_t, rel_l),
    ):
        out.append(
            align(
                source_terms=s_terms,
                source_labels=s_labels if labels else None,
                target_terms=t_terms,
                target_labels=t_labels if labels else None,
                encoder=encoder if labels else None,
                threshold=threshold,
            )
        )
    return out[0], out[1]


def action_features(retriever) -> np.ndarray:
    """(2R + 1, d) phrase vectors of each relation and direction, and a zero STOP row,
    as the agent's own policy training builds them."""
    from kgagent.pipeline.policy import action_features as features

    return features(retriever.relation_vectors)


def import_bundle(
    agent: Agent,
    bundle: Bundle | str | Path,
    *,
    components: Sequence[str] | None = None,
    names: dict[str, str] | None = None,
    use_encoder: bool = False,
    threshold: float = 0.85,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Aligns a bundle to the agent's graph and writes its components into the workspace.

    Args:
        agent: the importing agent (with a workspace; its index for a policy).
        bundle: a :class:`Bundle` or its directory.
        components: which to import (default: all the bundle has).
        names: component -> name in the workspace (default: the config's policy and
            adapter names, the source name for an embedding).
        use_encoder: also align by label similarity in the retrieval encoder's space.
        threshold: least cosine for encoder matches.
        overwrite: replace a component of the same name already in the workspace
            (otherwise that is an error: an import never silently replaces training).

    Returns the report: coverage per vocabulary, fills per table, paths written.
    """
    if agent.workspace is None:
        raise TransferError("importing writes into a workspace: give the agent one")
    bundle = bundle if isinstance(bundle, Bundle) else Bundle.load(bundle)
    components = _names(components) if components else bundle.components
    for kind in components:
        bundle.entry(kind)  # a clear error for a component the bundle lacks
    names = dict(names or {})
    ws = Path(agent.workspace)
    names.setdefault("policy", agent.config.policy.name or "default")
    names.setdefault("adapter", agent.config.llm.adapter or "default")
    if "embeddings" in components:
        cfg = bundle.config("embeddings")
        names.setdefault("embeddings", cfg.get("name") or cfg["model"])
    layout = Workspace(ws)
    where = {"embeddings": layout.embedding_dir, "policy": layout.policy_dir,
             "adapter": layout.adapter_dir}  # fmt: skip
    if "adapter" in components:
        _check_base_model(bundle, agent)
    for kind in components:
        existing = where[kind](names[kind])
        if existing.exists() and not overwrite:
            raise TransferError(
                f"{existing}: exists; import under another name (names={{{kind!r}: ...}}, "
                "CLI --name) or pass overwrite=True (CLI --overwrite)"
            )
    encoder = agent.encoder if use_encoder else None
    ents, rels = align_agent(bundle, agent.kg, encoder=encoder, threshold=threshold)
    report: dict[str, Any] = {
        "bundle": str(bundle.directory),
        "coverage": {"entities": ents.coverage(), "relations": rels.coverage()},
        "written": {},
    }
    if "embeddings" in components:
        out = _import_embedding(agent, bundle, ents, rels, names.get("embeddings"))
        report["written"]["embeddings"], report["embeddings"] = str(out[0]), out[1]
    if "policy" in components:
        out = _import_policy(agent, bundle, ents, rels, names.get("policy"))
        report["written"]["policy"], report["policy"] = str(out[0]), out[1]
    if "adapter" in components:
        target = layout.adapter_dir(names["adapter"])
        with atomic_dir(target) as tmp:  # the files Bundle.load verified, by their entries
            weights = bundle.directory / bundle.entry("adapter")["weights"]["file"]
            (tmp / COMPONENTS["adapter"]).write_bytes(weights.read_bytes())
            config = bundle.file("adapter", "adapter_config.json")
            (tmp / "adapter_config.json").write_bytes(config)
            atomic_write_json(
                tmp / "metrics.json",
                {**bundle.entry("adapter")["metrics"], "transferred_from": str(bundle.directory)},
            )
        report["written"]["adapter"] = str(target)
    return report


def _names(components: Sequence[str] | str) -> list[str]:
    """Component names as a list: one name given as a string is that name (not its
    letters), anything else must be a sequence of strings."""
    if isinstance(components, str):
        return [components]
    if not isinstance(components, Sequence) or not all(isinstance(c, str) for c in components):
        raise TransferError(
            f"components {components!r}: expected names from {', '.join(COMPONENTS)}"
        )
    return list(components)


def _check_base_model(bundle: Bundle, agent) -> None:
    """A LoRA adapter fits only the model it was trained on: refuse another base before
    anything is written (bundles from before this check carry no base and pass)."""
    base = bundle.config("adapter").get("base_model")
    llm = agent.config.llm
    if base is not None and base != llm.model:
        raise TransferError(
            f"{bundle.directory}: the adapter was trained on llm.model {base!r}; this agent "
            f"uses {llm.model!r} (an adapter only fits its base model)"
        )


def _edges(kg) -> np.ndarray:
    triples = kg.adjacency().triples()  # (e, 3) head, relation, tail
    return triples[:, [0, 2]]


def _import_embedding(agent, bundle, ents, rels, name):
    from kgagent.embeddings.artifact import embedding_dir
    from kgagent.embeddings.data import labels_digest

    model, _, report = warm_embedding_for(agent, bundle, ents, rels)
    out = embedding_dir(agent.workspace, name)
    entities, relations = list(agent.kg.vocab.entities.terms), list(agent.kg.vocab.relations.terms)
    extra = {
        "training": bundle.config("embeddings").get("training", {}),
        "vocabulary": {"entities": labels_digest(entities), "relations": labels_digest(relations)},
        "transferred_from": str(bundle.directory),
    }
    with atomic_dir(out) as tmp:
        model.save(tmp, extra=extra)
        atomic_write_text(tmp / "entities.txt", "".join(e + "\n" for e in entities))
        atomic_write_text(tmp / "relations.txt", "".join(r + "\n" for r in relations))
        atomic_write_json(tmp / "metrics.json", {"transfer": report})
    return out, report


def warm_embedding_for(agent, bundle, ents, rels):
    """The bundle's embedding over the agent's vocabulary (rows aligned and filled)."""
    from kgagent.transfer.warmstart import warm_embedding

    return warm_embedding(
        bundle, entity_alignment=ents, relation_alignment=rels, edges=_edges(agent.kg)
    )


def check_encoder(bundle: Bundle, agent) -> None:
    """A question-mode policy reads question vectors: they must come from the same encoder."""
    if bundle.config("policy")["network"]["mode"] != "question":
        return
    want, have = bundle.manifest.get("source", {}).get("encoder"), _encoder_name(agent)
    if want and have and want != have:
        raise TransferError(
            f"{bundle.directory}: the policy reads {want!r} question vectors, this agent "
            f"encodes with {have!r}; use the same retrieval encoder"
        )


def warm_policy_for(agent, bundle, ents, rels, *, config=None, reset=(), shrink=(), keep=1.0):
    """The bundle's policy over the agent's graph: (reasoner, transferred rows, report)."""
    from kgagent.transfer.warmstart import warm_policy

    check_encoder(bundle, agent)
    retriever = agent.retriever
    net = bundle.config("policy")["network"]
    return warm_policy(
        bundle,
        adj=retriever.adj,
        relations=retriever.relation_terms,
        relation_alignment=rels,
        entity_alignment=ents if net.get("num_entities") else None,
        action_features=action_features(retriever),
        config=config,
        edges=_edges(agent.kg) if net.get("num_entities") else None,
        reset=reset,
        shrink=shrink,
        keep=keep,
    )


def _import_policy(agent, bundle, ents, rels, name):
    reasoner, _, report = warm_policy_for(agent, bundle, ents, rels)
    out = Workspace(agent.workspace).policy_dir(name)
    reasoner.save(out, metrics={"transfer": report, "transferred_from": str(bundle.directory)})
    return out, report
