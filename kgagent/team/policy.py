"""The team's path policy: one policy over the union of the members' relations.

It walks the federated graph (:class:`~kgagent.team.federation.FederatedWalk`), so a
walk may take a relation of one member and then one of another, the entity set crossing
between graphs at the shared entities. Training is the single agent's REINFORCE on the
team's questions (topic linked by the router, mention masked, gold answers resolved to
team entities); it starts from a member's trained policy through the transfer module
(:func:`~kgagent.transfer.warmstart.warm_policy`): the relations both know keep their
learned rows, the others start from their phrase vectors, and the LSTM, head and
question projection move as they are. That is how a team shares what its members
learned, and how a new member's policy starts from a peer's (``Team.join``).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent.errors import KGAgentError
from kgagent.workspace import Workspace

if TYPE_CHECKING:
    from kgagent.policy import PathReasoner, PolicyConfig, Query
    from kgagent.team.team import Team

__all__ = ["action_features", "load_team_policy", "team_queries", "train_team_policy"]

log = logging.getLogger(__name__)


def action_features(fed) -> np.ndarray:
    """(2R + 1, d) phrase vectors of the team's relations each way, and a zero STOP row."""
    v = fed.relation_vectors
    return np.concatenate([v, np.zeros((1, v.shape[1]), dtype=v.dtype)])


def federate(reasoner: PathReasoner, fed) -> PathReasoner:
    """Points a reasoner built over one member's edges at the federated walk instead."""
    cfg = reasoner.config
    reasoner.env = fed.walk_for(max_hops=cfg.max_hops, revisit_start=cfg.revisits())
    return reasoner


def team_queries(
    team: Team, pairs: Sequence[tuple[str, Sequence[str]]], *, batch_size: int = 256
) -> tuple[list[Query], int]:
    """Policy queries in team ids for (question, answers) pairs, and how many were
    unusable (no topic linked, or no answer any member holds)."""
    from kgagent.pipeline.pipeline import mask_mention
    from kgagent.policy import Query

    fed = team.federation
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(fed.entity_labels):
        by_label.setdefault(label.casefold(), []).append(i)
    starts, texts, golds = [], [], []
    for b in range(0, len(pairs), batch_size):
        chunk = pairs[b : b + batch_size]
        links = team.linker.member_links([q for q, _ in chunk])
        for (question, answers), found in zip(chunk, links, strict=True):
            _, topic, link, _ = team.router.topic(fed, found)
            if topic is None:
                continue
            gold: set[int] = set()
            for a in answers:
                a = str(a).strip()
                node = fed.team_id(f"<{a}>")
                gold.update([node] if node is not None else by_label.get(a.casefold(), []))
            gold.discard(topic)
            if not gold:
                continue
            starts.append(topic)
            texts.append(mask_mention(question, link.entity.start, link.entity.end))
            golds.append(np.array(sorted(gold), dtype=np.int64))
    vecs = [
        team.encoder.encode(texts[b : b + batch_size]) for b in range(0, len(texts), batch_size)
    ]
    vecs = np.concatenate(vecs) if vecs else np.zeros((0, 1), dtype=np.float32)
    queries = [Query(s, v, g) for s, v, g in zip(starts, vecs, golds, strict=True)]
    return queries, len(pairs) - len(queries)


def warm_start(team: Team, source: str | None, config: PolicyConfig | None):
    """A team policy initialised from member ``source``'s policy (None: the member whose
    policy knows the most team relations): (reasoner, report)."""
    from kgagent.transfer.align import align
    from kgagent.transfer.checkpoint import Bundle, TransferError
    from kgagent.transfer.warmstart import warm_policy

    fed = team.federation
    candidates = [m for m, info in enumerate(fed.infos) if info.has_policy]
    if source is not None:
        if source not in fed.names:
            raise KGAgentError(f"warm_start={source!r}: no such member ({', '.join(fed.names)})")
        m = fed.names.index(source)
        if m not in candidates:
            raise KGAgentError(f"warm_start={source!r}: that member has no trained policy")
    elif not candidates:
        return None, {"warm_start": None, "reason": "no member has a trained policy"}
    else:
        m = max(candidates, key=lambda i: (int((fed.rel_to_team[i] >= 0).sum()), -i))
    with tempfile.TemporaryDirectory(prefix="kgagent-team-") as tmp:
        path = team.members[m].submit("export_policy", str(Path(tmp) / "bundle")).result()
        bundle = Bundle.load(path)
        want = bundle.manifest.get("source", {}).get("encoder")
        if want and want != fed.infos[0].encoder:
            raise TransferError(f"{path}: policy reads {want!r} vectors, the team encodes "
                                f"with {fed.infos[0].encoder!r}")  # fmt: skip
        src_terms, src_labels = bundle.relations
        R = fed.num_relations
        rels = align(
            source_terms=src_terms,
            source_labels=src_labels,
            target_terms=fed.relation_terms,
            target_labels=fed.relation_texts[:R],
        )
        reasoner, _, report = warm_policy(
            bundle,
            adj=fed.edges[0].adj,
            relations=fed.relation_terms,
            relation_alignment=rels,
            action_features=action_features(fed),
            config=config,
        )
    report = {"warm_start": fed.names[m], "relations": rels.coverage(), **report}
    return federate(reasoner, fed), report


def train_team_policy(
    team: Team,
    pairs: Sequence[tuple[str, Sequence[str]]],
    *,
    name: str,
    config: PolicyConfig | None = None,
    warm: bool | str = True,
    valid_share: float = 0.1,
    progress: bool = False,
    time_budget: float | None = None,
    tie_to_policy: bool = True,
) -> tuple[PathReasoner, dict[str, Any]]:
    """Trains the team policy and saves it under ``TEAM/policy/NAME``: (reasoner, report).

    ``valid_share`` of the pairs are held out: the policy's early stopping, and the
    comparison that decides whether questions use it — the team's answers (read without
    the LLM) with the policy against without it. ``report["used"]`` says which won; the
    choice is saved beside the policy (``reader.json``), so a policy weaker than the
    planned chains never answers (:func:`load_team_policy`). ``tie_to_policy``: the
    user's own questions: the policy unless it scores lower; otherwise (synthesized
    questions, which flatter a policy trained on their like) only where it is better by
    more than chance (:func:`~kgagent.agents.training.clearly_better`).
    """
    from kgagent.agents.training import clearly_better, retrieval_hits, write_policy_use
    from kgagent.policy import PolicyConfig, create_reasoner

    if team.workspace is None:
        raise KGAgentError("training a team policy saves it: give the team a workspace")
    fed = team.federation
    cfg = config or PolicyConfig()
    pairs = list(pairs)
    order = np.random.default_rng(cfg.seed).permutation(len(pairs))
    n_valid = max(1, int(len(pairs) * valid_share))
    valid_pairs = [pairs[i] for i in order[:n_valid]]
    train_pairs = [pairs[i] for i in order[n_valid:]]
    train, skipped = team_queries(team, train_pairs)
    valid, skipped_valid = team_queries(team, valid_pairs)
    if len(train) < 1 or len(valid) < 1:
        raise KGAgentError(
            f"only {len(train) + len(valid)} of {len(pairs)} questions have a linked entity "
            "and an answer in the members' graphs: nothing to train the team policy on"
        )
    before = team.policy
    team.use_policy(None)
    planned = retrieval_hits(team, valid_pairs)
    reasoner, report = None, {"warm_start": None}
    if warm:
        reasoner, report = warm_start(team, warm if isinstance(warm, str) else None, config)
    if reasoner is None:
        reasoner = federate(
            create_reasoner(
                fed.edges[0].adj,
                fed.relation_terms,
                config=cfg,
                query_dim=int(fed.relation_vectors.shape[1]),
                action_features=action_features(fed),
            ),
            fed,
        )
    else:
        report["valid_before_training"] = reasoner.evaluate(valid)
    try:
        fit = reasoner.fit(train, valid, progress=progress, time_budget=time_budget)
        team.use_policy(reasoner)
        with_policy = retrieval_hits(team, valid_pairs)
    finally:
        team.use_policy(before)
    if tie_to_policy:  # the user's own questions: the policy unless it is worse
        used = bool(with_policy.mean() >= planned.mean())
    else:
        used = clearly_better(with_policy, planned)
    report = {**fit, "transfer": report, "valid": reasoner.evaluate(valid)}
    report["skipped_questions"] = skipped + skipped_valid
    report["answers_hits_at_1"] = {
        "policy": round(float(with_policy.mean()), 4),
        "planned": round(float(planned.mean()), 4),
    }
    report["used"] = used
    directory = Workspace(team.workspace).policy_dir(name)
    reasoner.save(
        directory,
        metrics=report,
        extra={"team": {"members": [{"name": i.name, "graph": i.graph} for i in fed.infos]}},
    )
    write_policy_use(directory, used=used, validation=report["answers_hits_at_1"])
    return reasoner, report


def load_team_policy(team: Team, name: str) -> PathReasoner | None:
    """The team policy saved under ``TEAM/policy/NAME``, if it fits the team's relations
    and training did not find it weaker than the planned chains."""
    from kgagent.agents.training import policy_in_use
    from kgagent.policy import PolicyError, load_reasoner

    if team.workspace is None or not name:
        return None
    directory = Workspace(team.workspace).policy_dir(name)
    if not (directory / "config.json").exists():
        return None
    if not policy_in_use(directory):
        log.info("%s: training found this policy weaker than planned chains: not used", directory)
        return None
    fed = team.federation
    try:
        reasoner = load_reasoner(directory, fed.edges[0].adj, fed.relation_terms)
    except PolicyError as exc:  # e.g. a member joined with new relations: retrain
        log.warning("%s; the team answers without its policy (train it again)", exc)
        return None
    return federate(reasoner, fed)
