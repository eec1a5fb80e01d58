"""Reader: evidence -> cited answer, constrained to what the graph offers.

The LLM scores each of retrieval's best answer candidates (relation chains from the
linked topic entity, executed on the graph; see :mod:`kgagent.pipeline.candidates`):
the log-odds of "yes" to "does this path answer the question?", one short prompt per
candidate, all candidates of all questions in one batch. A softmax over the candidates
and a "none" option (log-odds 0: an even chance) picks the answer, optionally combined
with retrieval's own ranking as a prior. The answer is the chosen candidate's entity
set — never free text — so every answer is an entity of the evidence and carries the
facts that reach it; "none", or no candidate at all, is an explicit abstention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kgagent.llm.base import LLM
from kgagent.llm.prompt import MAX_OPTIONS, NO, YES, conversation
from kgagent.types import Answer, AnswerEntity, Candidate, Evidence, Fact, Path

__all__ = ["ABSTAIN_TEXT", "Reader"]

ABSTAIN_TEXT = "I don't know: nothing in the knowledge graph supports an answer."
_MAX_CITED = 20  # facts cited in the text of a long list answer


@dataclass(frozen=True)
class Choice:
    """The reader's decision for one question: option index (-1: abstain) and its odds."""

    index: int
    confidence: float
    probabilities: tuple[float, ...]


class Reader:
    """Turns evidence into answers with one LLM call per question (batched).

    Args:
        llm: any :class:`~kgagent.llm.base.LLM`, or None to read without one: the
            retrieval's best candidate wins (the "retrieval only" ablation).
        min_confidence: below this the reader abstains rather than guess.
        policy_weight: the same for options the path policy proposed, whose
            probabilities are a sharper prior than retrieval's scores.
        prior_weight: weight of retrieval's ranking of the options, added to the LLM's
            log-probabilities (a product of experts); 0 leaves the choice to the LLM.
        decisive: where the path policy proposed the options and its best one holds at
            least this share of the prior, the prior answers and the LLM is not asked (a
            cascade: the LLM reads only the questions the policy is unsure of). None:
            always ask.
        same_hops: where retrieval's ranking is the prior, the LLM chooses only among
            the options as many hops long as retrieval's best. A 135M LLM judges which
            relations a question names, but not how many: the ranker's alignment of the
            question's words to hops does. Measured with self-trained readers, it
            keeps the LLM from answering a chain's first hop ("the hometown of X's
            spouse" answered by the spouse): PathQuestion 0.658 -> 0.737 at weight 2;
            500 MetaQA 3-hop tuning questions 0.784 -> 0.854 at weight 2 and 0.822 ->
            0.872 at 4 (docs/benchmarks.md).
    """

    def __init__(
        self,
        llm: LLM | None,
        *,
        min_confidence: float = 0.0,
        prior_weight: float = 1.0,
        policy_weight: float = 3.0,
        decisive: float | None = None,
        same_hops: bool = True,
    ) -> None:
        self.llm = llm
        self.min_confidence = float(min_confidence)
        self.prior_weight = float(prior_weight)
        self.policy_weight = float(policy_weight)
        self.decisive = None if decisive is None else float(decisive)
        self.same_hops = bool(same_hops)

    def choose(
        self, evidences: Sequence[Evidence], logits: Sequence[np.ndarray] | None = None
    ) -> list[Choice]:
        """Which candidate answers each question (batched through the LLM).

        ``logits``: the LLM's :func:`candidate_logits` of these evidences, if already
        computed (training weighs the same logits under several settings).
        """
        out: list[Choice | None] = [None] * len(evidences)
        asks = [i for i, ev in enumerate(evidences) if ev.candidates]
        for i, ev in enumerate(evidences):
            if not ev.candidates:
                out[i] = Choice(-1, 0.0, ())
        if asks and self.llm is None:
            for i in asks:
                out[i] = _by_retrieval(evidences[i].candidates)
        elif asks:
            if self.decisive is not None:
                for i in asks:
                    cands = evidences[i].candidates
                    if cands[0].prior is not None:
                        choice = _by_retrieval(cands)
                        if choice.confidence >= self.decisive:
                            out[i] = choice
                asks = [i for i in asks if out[i] is None]
            if logits is not None:
                rows = [logits[i] for i in asks]
            else:
                rows = candidate_logits(self.llm, [evidences[i] for i in asks]) if asks else []
            for row, i in zip(rows, asks, strict=True):
                n = len(row)
                cands = evidences[i].candidates
                weight = self.policy_weight if cands[0].prior is not None else self.prior_weight
                if weight:
                    row = row + weight * _prior(cands, n)
                    if self.same_hops and cands[0].prior is None:
                        row = _same_hops(row, cands)
                p = np.exp(row - np.max(row))
                p /= p.sum()  # renormalized over the options this question has
                best = int(np.argmax(p))
                conf = float(p[best])
                index = best - 1 if best > 0 and conf >= self.min_confidence else -1
                out[i] = Choice(index, conf, tuple(float(x) for x in p))
        return [c for c in out if c is not None]

    def read(self, evidences: Sequence[Evidence]) -> list[Answer]:
        return [answer(ev, ch) for ev, ch in zip(evidences, self.choose(evidences), strict=True)]


_SHARPNESS = 4.0  # retrieval scores -> probabilities (scores span ~0..2)
_UNPROPOSED = 0.02  # prior share of an option the path policy did not propose


def candidate_logits(llm: LLM, evidences: Sequence[Evidence]) -> list[np.ndarray]:
    """Per question, (1 + n,) scores: 0 for "none", then each candidate's yes/no log-odds."""
    convs, sizes = [], []
    for ev in evidences:
        cands = ev.candidates[:MAX_OPTIONS]
        convs += [conversation(ev.question, c) for c in cands]
        sizes.append(len(cands))
    logp = llm.choose(convs, [YES, NO]) if convs else np.zeros((0, 2))  # (sum n, 2)
    logp = np.where(np.isfinite(logp), logp, -1e9)
    odds = logp[:, 0] - logp[:, 1]
    out, start = [], 0
    for n in sizes:
        out.append(np.concatenate([[0.0], odds[start : start + n]]))
        start += n
    return out


def _by_retrieval(candidates: Sequence[Candidate]) -> Choice:
    """Reading without an LLM: the prior alone (the policy's, else retrieval's) decides."""
    n = min(len(candidates), MAX_OPTIONS)
    p = np.exp(_prior(candidates, n + 1)[1:])
    p /= p.sum()
    best = int(np.argmax(p))
    return Choice(best, float(p[best]), (0.0, *(float(x) for x in p)))


def _same_hops(row: np.ndarray, candidates: Sequence[Candidate]) -> np.ndarray:
    """(1 + n,) scores with the options of another length than retrieval's best out."""
    options = candidates[: len(row) - 1]
    hops = options[int(np.argmax([c.score for c in options]))].hops
    keep = np.array([True] + [c.hops == hops for c in options])
    return np.where(keep, row, -np.inf)


def _prior(candidates: Sequence[Candidate], n: int) -> np.ndarray:
    """(n,) log-prior of "none" and the options.

    The path policy's probabilities where it proposed the options (a path it did not
    propose, and "none", get ``_UNPROPOSED`` of the mass); else retrieval's scores,
    sharpened, with "none" as likely as the average option.
    """
    options = candidates[: n - 1]
    if any(c.prior is not None for c in options):
        logp = np.array(
            [c.prior if c.prior is not None else np.nan for c in options], dtype=np.float64
        )
        known = ~np.isnan(logp)
        logp[known] -= np.log(np.exp(logp[known]).sum())
        logp[~known] = np.log(_UNPROPOSED)
        # "none" is as likely as a path the policy did not propose: its walks were
        # trained to reach answers, so the reader abstains only if it rejects them all
        return np.concatenate([[np.log(_UNPROPOSED)], logp])
    scores = np.array([c.score for c in options], dtype=np.float64)
    logp = _SHARPNESS * (scores - scores.max())
    logp -= np.log(np.exp(logp).sum())
    return np.concatenate([[np.log(1.0 / len(options))], logp])


def answer(ev: Evidence, choice: Choice) -> Answer:
    """The Answer for a chosen candidate (or the abstention)."""
    if choice.index < 0:
        return Answer(
            question=ev.question,
            text=ABSTAIN_TEXT,
            entities=(),
            facts=(),
            paths=(),
            confidence=choice.confidence,
            abstained=True,
        )
    c = ev.candidates[choice.index]
    cited: dict[int, Fact] = {}
    entities = []
    for (value, label), support in zip(c.answers, c.support, strict=True):
        for f in support:
            cited.setdefault(f.id, f)
        entities.append(
            AnswerEntity(
                iri=value,
                label=label,
                score=choice.confidence,
                facts=tuple(f.id for f in support),
                is_literal=bool(support) and support[-1].object_is_literal,
            )
        )
    facts = tuple(cited.values())
    number = {f.id: n for n, f in enumerate(facts, 1)}
    parts = []
    for e in entities[:_MAX_CITED]:
        refs = "".join(f"[{number[i]}]" for i in e.facts)
        parts.append(f"{e.label} {refs}".strip())
    more = len(entities) - len(parts) + (c.total - len(c.answers))
    text = "; ".join(parts) + (f"; and {more} more" if more > 0 else "") + "."
    paths = tuple(
        Path(
            entities=(c.topic, *_walk_nodes(c, s)),
            facts=s,
            inverse=c.inverse,
            text=path_text(c, s),
            score=c.score,
        )
        for s in c.support
        if c.hops > 1 and len(s) == c.hops
    )
    return Answer(
        question=ev.question,
        text=text,
        entities=tuple(entities),
        facts=facts,
        paths=paths,
        confidence=choice.confidence,
        abstained=False,
        kind="value" if entities and all(e.is_literal for e in entities) else "entities",
        program=_chain_program(c),
    )


def _chain_program(c: Candidate) -> dict | None:
    """The chain as the program it is ("entities" over it), None where it is no program
    (a chain longer than a program holds)."""
    from kgagent.programs.types import Chain, Program, ProgramError

    try:
        chain = Chain(c.topic, tuple(zip(c.relations, c.inverse, strict=True)))
        return Program("entities", chain=chain).to_dict()
    except ProgramError:
        return None


def _walk_nodes(c: Candidate, facts: Sequence[Fact]) -> list[str]:
    """The entities a supporting walk passes, each as its fact names it. The hop's
    direction comes from the candidate, not from matching IRIs: in a team, consecutive
    facts come from different graphs, which name the shared entity differently."""
    return [f.subject if inv else f.object for f, inv in zip(facts, c.inverse, strict=True)]


def path_text(c: Candidate, facts: Sequence[Fact]) -> str:
    """A supporting walk as ``Answer.paths`` reads it ("Wall Street -directed by-> Oliver
    Stone"): from the topic, each hop in its walking direction."""
    parts = [c.topic_label]
    for f, rel, inv in zip(facts, c.relation_labels, c.inverse, strict=True):
        parts.append(f" -{rel}-> {f.subject_label if inv else f.object_label}")
    return "".join(parts)
