"""Training an agent on its own graph with no QA data: ``kgagent train`` / ``Agent.train``.

synthesis -> path policy -> reader, each part kept only where it measurably helps:

1. questions are synthesized from the graph (:mod:`kgagent.synth`) and split into a
   training and a held-out validation part; the validation part is asked in wordings
   (template frames) the training part never uses (:func:`split_by_wording`), as a
   user's questions are: judged on the wordings it trained on, the LLM reader won every
   validation (0.937 against 0.907 without it on MetaQA's graph) yet lost to the ranker
   on real 2- and 3-hop questions;
2. the path policy trains on the training part; on the validation part, answered
   without the LLM, it must beat the zero-shot chain ranker it would overrule by more
   than chance (:func:`clearly_better`), or it is kept on disk but marked unused
   (``reader.json`` beside it), so a weak policy never overrules a better ranker;
3. the reader's LoRA adapter trains on the same questions; it is kept only if its option
   accuracy on held-out questions rises, and then the weight of the ranking (or the
   policy's prior) beside the LLM's scores is chosen on the validation part, reading
   without the LLM included (``reader.json`` beside the adapter); the LLM is used only
   where its best weight beats reading without it by more than chance, as the policy
   must: on PathQuestion the SmolLM2 reader won the synthesized validation narrowly and
   read real questions 12 points worse than the zero-shot ranker.

The report says what each part reached on validation and how long it took. The policy
and the adapter are written under the configured names (``policy.name``,
``llm.adapter``), replacing what is there: to keep a policy or adapter trained on your
own questions, point the configuration at other names first.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from kgagent.errors import KGAgentError

if TYPE_CHECKING:
    from kgagent.agents.agent import Agent

__all__ = [
    "POLICY_USE_FILE",
    "READER_FILE",
    "TrainReport",
    "calibrate_reader",
    "clearly_better",
    "policy_in_use",
    "reader_calibration",
    "reader_examples",
    "train_agent",
    "write_policy_use",
]

log = logging.getLogger(__name__)

#: beside a saved policy: whether the reader should use it, and the validation behind it
POLICY_USE_FILE = "reader.json"
#: beside an adapter: how the reader weighs the LLM (or reads without it), and why
READER_FILE = "reader.json"
#: the weights of retrieval's ranking beside the LLM's log-odds tried (None: no LLM)
READER_WEIGHTS = (0.5, 1.0, 2.0, 4.0, 8.0, None)


@dataclass
class TrainReport:
    """What ``train`` did: per part, its validation figures and seconds."""

    questions: dict[str, Any] = field(default_factory=dict)
    zero_shot: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    reader: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        lines = [
            f"questions: {self.questions.get('train', 0)} train, "
            f"{self.questions.get('valid', 0)} validation "
            f"({self.questions.get('seconds', 0):.0f}s)",
            f"zero-shot ranker: validation Hits@1 {self.zero_shot.get('hits_at_1', 0):.3f}",
        ]
        if self.policy:
            used = "used" if self.policy.get("used") else "NOT used (the ranker is better)"
            lines.append(
                f"path policy: validation Hits@1 {self.policy.get('hits_at_1', 0):.3f}, "
                f"{used} ({self.policy.get('seconds', 0):.0f}s)"
            )
        if self.reader:
            kept = "kept" if self.reader.get("kept") else "NOT kept (no gain)"
            lines.append(
                f"reader: option accuracy {self.reader.get('option_accuracy_before', 0):.3f}"
                f" -> {self.reader.get('option_accuracy_after', 0):.3f}, {kept} "
                f"({self.reader.get('seconds', 0):.0f}s)"
            )
            if "reader_weight" in self.reader:
                w, best = self.reader["reader_weight"], self.reader.get("best_weight")
                how = "reads without the LLM" if w is None else f"ranking weight {w}"
                if w is None and best is not None:
                    how += f" (weight {best} was not clearly better)"
                lines.append(
                    f"reader on validation: {how} (Hits@1 by weight: "
                    f"{self.reader['validation_hits_at_1']})"
                )
        lines.append(f"total {self.seconds:.0f}s")
        return "\n".join(lines)


def train_agent(
    agent: Agent,
    *,
    questions: int = 2000,
    multi_hop: float = 0.5,
    valid_share: float = 0.15,
    policy: bool = True,
    reader: bool = True,
    reader_steps: int = 150,
    reader_batch_size: int = 8,
    policy_budget: float | None = 300.0,
    typed: float = 0.0,
    conversations: float = 0.1,
    seed: int = 0,
    progress: bool = False,
) -> TrainReport:
    """Trains ``agent``'s policy and reader on questions synthesized from its graph.

    Args:
        questions: how many questions to synthesize (fewer on a small graph).
        multi_hop: the share of them that chain two or three relations.
        valid_share: the held-out share every part is judged on.
        policy, reader: which parts to train.
        reader_steps, reader_batch_size: the reader's LoRA steps and their batch size.
        policy_budget: seconds the policy may train (it stops early on its own
            validation before that).
        typed: typed questions (counts, yes/no, constraints, superlatives, comparisons;
            :func:`~kgagent.synth.typed.synthesize_typed`) added to the reader's training
            questions, as a share of them, so the LLM learns to rank programs too
            (``qa.programs_llm``; 0 by default, as that is off by default).
        conversations: follow-ups of synthesized conversations
            (:func:`~kgagent.synth.dialogue.synthesize_conversations`), resolved as a
            conversation resolves them, added to the reader's training questions as a
            share of them: the reader learns the questions a conversation asks it.
        seed: synthesis, split and training seed.
    """
    from kgagent.llm.finetune import LoRAConfig
    from kgagent.policy import PolicyConfig
    from kgagent.synth import synthesize_items

    if agent.ws is None:
        raise KGAgentError("training saves the policy and the adapter: give the agent a workspace")
    report = TrainReport()
    t0 = time.perf_counter()
    agent.use_policy(None)
    items = synthesize_items(agent, n=questions, seed=seed, multi_hop=multi_hop)
    if len(items) < 10:
        raise KGAgentError(
            f"only {len(items)} questions could be synthesized from this graph: too few to train"
        )
    held, kept = split_by_wording(items, valid_share, seed=seed)
    valid = [(it.question, it.answers) for it in held]
    train = [(it.question, it.answers) for it in kept]
    report.questions = {
        "train": len(train),
        "valid": len(valid),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    zero_shot = retrieval_hits(agent, valid)
    report.zero_shot = {"hits_at_1": round(float(zero_shot.mean()), 4)}
    if policy:
        t1 = time.perf_counter()
        fit = agent.train_policy(
            train,
            config=PolicyConfig(seed=seed),
            progress=progress,
            time_budget=policy_budget,
        )
        right = retrieval_hits(agent, valid)
        hits = round(float(right.mean()), 4)
        used = clearly_better(right, zero_shot)
        report.policy = {
            "hits_at_1": hits,
            "used": used,
            "fit_valid": fit.get("valid", {}),
            "seconds": round(time.perf_counter() - t1, 1),
        }
        mark_policy(agent, used=used, validation={"policy": hits, **report.zero_shot})
        if not used:
            agent.use_policy(None)
    if reader and agent.config.llm.backend == "transformers" and agent.config.llm.adapter:
        t2 = time.perf_counter()
        extra = []
        if typed > 0 and agent.config.qa.programs:
            from kgagent.synth.typed import synthesize_typed

            made = synthesize_typed(agent, n=int(len(train) * typed), seed=seed)
            extra = [(it.question, it.answers) for it in made]
        talked = []
        if conversations > 0:
            from kgagent.synth.dialogue import conversation_pairs, synthesize_conversations

            convs = synthesize_conversations(agent, n=int(len(train) * conversations), seed=seed)
            talked = conversation_pairs(agent, convs)
        fit = agent.finetune(
            train + extra + talked,
            lora=LoRAConfig(max_steps=reader_steps, batch_size=reader_batch_size, seed=seed),
            progress=progress,
        )
        kept = fit["option_accuracy_after"] > fit["option_accuracy_before"]
        if not kept and agent.adapter_dir is not None:
            shutil.rmtree(agent.adapter_dir)
            agent.reload_llm()
        report.reader = {
            "option_accuracy_before": fit["option_accuracy_before"],
            "option_accuracy_after": fit["option_accuracy_after"],
            "steps": fit["steps"],
            "typed_questions": len(extra),
            "conversation_questions": len(talked),
            "kept": kept,
        }
        if kept:
            report.reader.update(calibrate_reader(agent, valid))
        report.reader["seconds"] = round(time.perf_counter() - t2, 1)
    report.seconds = round(time.perf_counter() - t0, 1)
    if agent.ws is not None:
        path = agent.ws.runs_dir / "train.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report


def split_by_wording(items, share: float, *, seed: int = 0) -> tuple[list, list]:
    """(validation, training) synthesized items: whole wordings (the outer frame of each
    item's template: "which X is Y in", "name the X of Y", "the X of Y") are held out, in
    a seeded order, until at least ``share`` of the items are (at least 5), skipping a
    wording that would hold out more than twice that; one wording at least stays for
    training. Where no wording fits, the split is at random."""
    groups: dict[str, list] = {}
    for it in items:
        groups.setdefault(it.template.split(":", 1)[0], []).append(it)
    want = max(5, math.ceil(len(items) * share))
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    held: list = []
    for frame in order:
        if len(held) >= want or len(groups) == 1:
            break
        if len(held) + len(groups[frame]) <= 2 * want:
            held += groups.pop(frame)
    if len(held) < want:  # wordings too few or too big to hold out
        shuffled = list(items)
        random.Random(seed).shuffle(shuffled)
        return shuffled[:want], shuffled[want:]
    return held, [it for g in groups.values() for it in g]


def reader_examples(retriever, typed, pairs, *, batch_size: int = 64) -> list:
    """The fine-tuning examples of (question, answers) pairs: the options the reader will
    compare for each (a typed question's programs when ``typed``, a
    :class:`~kgagent.programs.ProgramReader`, proposes some; else its chain candidates)
    and which one gives the answers (:class:`~kgagent.llm.finetune.Example`)."""
    from kgagent.llm.finetune import example_from

    data = []
    asked = [(q, answers) for q, answers in pairs if answers]
    for b in range(0, len(asked), batch_size):
        chunk = asked[b : b + batch_size]
        for ev, (_, answers) in zip(retriever.evidence([q for q, _ in chunk]), chunk,
                                    strict=True):  # fmt: skip
            ex = typed.example(ev, answers) if typed is not None else None
            ex = ex or example_from(ev, answers)
            if ex is not None:
                data.append(ex)
    return data


def retrieval_hits(agent: Agent, pairs, *, batch_size: int = 64) -> np.ndarray:
    """(n,) bool: whether the agent's pipeline answers each (question, answers) pair right
    (Hits@1), read without the LLM (the best candidate by the policy's prior, else the
    ranker's score). ``agent`` may be a :class:`~kgagent.team.Team` (its ``evidence``)."""
    from kgagent.llm.reader import Reader
    from kgagent.qa import hits_at_1

    reader = Reader(None)
    evidence = agent.evidence if hasattr(agent, "evidence") else agent.retriever.evidence
    labels = []
    for b in range(0, len(pairs), batch_size):
        labels += [
            a.labels for a in reader.read(evidence([q for q, _ in pairs[b : b + batch_size]]))
        ]
    return hits_at_1(labels, [gold for _, gold in pairs])


def clearly_better(new: np.ndarray, old: np.ndarray, *, alpha: float = 0.05) -> bool:
    """Whether ``new`` answers more of the same questions right than ``old`` by more than
    chance: a one-sided sign test on the questions where they disagree (McNemar's exact
    test). A trained part judged on synthesized questions replaces the zero-shot one
    only then: those questions flatter what was trained on their like, and a difference
    of a few questions in a few hundred is noise (a team policy that beat the planned
    chains by 0.845 to 0.835 on them lost 20 points on MetaQA's own 2-hop questions)."""
    wins = int((new & ~old).sum())
    losses = int((~new & old).sum())
    n = wins + losses
    if wins <= losses:
        return False
    p = sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n  # P(X >= wins | fair coin)
    return p < alpha


def calibrate_reader(agent: Agent, pairs, *, batch_size: int = 64) -> dict[str, Any]:
    """Chooses how the reader weighs the LLM against retrieval's ranking on held-out
    (question, answers) pairs — one LLM pass, every weight of :data:`READER_WEIGHTS`
    scored on it, reading without the LLM included — and saves the choice beside the
    agent's adapter. Ties go to the larger weight (the cheaper, steadier ranking). The
    LLM is used only where its best weight is :func:`clearly_better` than reading
    without it, as the policy must be: on PathQuestion's graph it won the synthesized
    validation by 16 questions to 8 (weight 2), and read real questions 12 points worse
    than the ranker alone."""
    from kgagent.llm.reader import Reader, answer, candidate_logits
    from kgagent.qa import hits_at_1

    evidences = []
    for b in range(0, len(pairs), batch_size):
        evidences += agent.retriever.evidence([q for q, _ in pairs[b : b + batch_size]])
    logits = candidate_logits(agent.llm, evidences)
    gold = [a for _, a in pairs]
    right: dict[float | None, np.ndarray] = {}  # weight -> (n,) Hits@1 per question
    for w in READER_WEIGHTS:
        reader = Reader(None) if w is None else Reader(agent.llm, prior_weight=w, policy_weight=w)
        choices = reader.choose(evidences, None if w is None else logits)
        labels = [answer(ev, ch).labels for ev, ch in zip(evidences, choices, strict=True)]
        right[w] = hits_at_1(labels, gold)
    hits = {"none" if w is None else str(w): round(float(r.mean()), 4) for w, r in right.items()}
    chosen, best = choose_reader_weight(right)
    doc = {"use_llm": chosen is not None, "weight": chosen, "best_weight": best,
           "clearly_better": chosen is not None, "validation_hits_at_1": hits}  # fmt: skip
    (agent.adapter_dir / READER_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    return {"reader_weight": chosen, "best_weight": best, "validation_hits_at_1": hits}


def choose_reader_weight(right: dict) -> tuple[float | None, float | None]:
    """(the weight to read with, the best on validation) from ``weight -> (n,) Hits@1 per
    question`` (None: without the LLM).

    The weight read with is the largest that validation does not find clearly worse than
    the best (:func:`clearly_better`, ties included), and that is itself clearly better
    than reading without the LLM; None where none is. Synthesized questions flatter the
    LLM trained on their like, so between weights they cannot tell apart, the one that
    leans most on the ranking is taken (the "one standard error" rule of model
    selection). Measured on MetaQA: validation preferred 0.5 (0.950) to 4.0 (0.940) by
    12 questions to 7; on 500 real questions per hop, 0.5 read 0.842 / 0.868 / 0.762
    (1-3 hops) and 4.0 0.874 / 0.936 / 0.872, the ranker alone 0.878 / 0.934 / 0.886.
    """
    means = {w: float(np.mean(r)) for w, r in right.items()}
    top = max(means.values())
    best = [w for w in READER_WEIGHTS if w in means and means[w] == top][-1]
    if best is None:
        return None, best
    near = [w for w in READER_WEIGHTS
            if w is not None and w in right and w >= best
            and not clearly_better(right[best], right[w])
            and clearly_better(right[w], right[None])]  # fmt: skip
    return (max(near) if near else None), best


def reader_calibration(adapter_dir) -> dict[str, Any]:
    """The reader settings training chose for an adapter ({} if none)."""
    path = None if adapter_dir is None else adapter_dir / READER_FILE
    if path is None or not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        log.warning("%s: unreadable; the reader uses its configured weights", path)
        return {}


def mark_policy(agent: Agent, *, used: bool, validation: dict[str, float]) -> None:
    """Writes ``reader.json`` beside the agent's policy: whether questions use it."""
    write_policy_use(agent.ws.policy_dir(agent.config.policy.name or "default"),
                     used=used, validation=validation)  # fmt: skip


def write_policy_use(directory, *, used: bool, validation: dict[str, float]) -> None:
    """Writes ``reader.json`` in a policy's directory: whether questions use it (an
    agent's or a team's), and the validation figures that decided."""
    doc = {"use": bool(used), "validation_hits_at_1": validation}
    (directory / POLICY_USE_FILE).write_text(json.dumps(doc, indent=2) + "\n")


def policy_in_use(directory) -> bool:
    """False where training found the policy weaker than the zero-shot ranker."""
    path = directory / POLICY_USE_FILE
    if not path.is_file():
        return True
    try:
        return bool(json.loads(path.read_text()).get("use", True))
    except (OSError, ValueError):
        log.warning("%s: unreadable; using the policy", path)
        return True
