"""The reader's combination of the LLM's odds with retrieval's ranking."""

import numpy as np

from kgagent.llm.reader import Reader
from kgagent.types import Candidate, Evidence


def _cand(rels: tuple[str, ...], answer: str, score: float, prior: float | None = None):
    return Candidate(
        topic="ex:x",
        topic_label="X",
        relations=tuple(f"ex:{r}" for r in rels),
        inverse=(False,) * len(rels),
        relation_labels=rels,
        answers=((f"ex:{answer}", answer),),
        total=1,
        support=((),),
        score=score,
        prior=prior,
    )


# "what is the hometown of X's spouse": retrieval ranks the two-hop chain first, and the
# LLM is surer of the spouse alone (it reads a relation's words, not how many a question
# names) -- measured on PathQuestion, the pattern self-trained readers lose most to
QUESTION = "what is the hometown of X's spouse"
CANDS = (_cand(("spouse", "place of birth"), "Turin", 0.68),
         _cand(("spouse",), "Amadeo", 0.10),
         _cand(("spouse", "parents"), "Vittorio", 0.22))  # fmt: skip
LOGITS = [np.array([0.0, 9.0, 12.0, 7.0])]  # "none", then each option's yes/no log-odds


def test_the_llm_chooses_among_chains_as_long_as_retrievals_best():
    ev = Evidence(QUESTION, (), candidates=CANDS)
    free = Reader(object(), prior_weight=1.0, same_hops=False).choose([ev], LOGITS)[0]
    assert free.index == 1  # the first hop alone: the answer's spouse, not her hometown
    held = Reader(object(), prior_weight=1.0).choose([ev], LOGITS)[0]
    assert held.index == 0
    assert held.probabilities[2] == 0.0  # the one-hop option is out
    # within the length retrieval chose, the LLM still decides against the ranking
    flipped = [np.array([0.0, 2.0, 12.0, 9.0])]
    assert Reader(object(), prior_weight=1.0).choose([ev], flipped)[0].index == 2
    # "none" stays open: the LLM can still reject every option
    assert (
        Reader(object(), prior_weight=0.5).choose([ev], [np.array([0.0, -9, 11, -9])])[0].index
        == -1
    )


def test_a_policys_proposals_are_not_held_to_retrievals_length():
    # the policy's prior ranks its own walks; its hop counts are learned, not aligned
    cands = tuple(_cand(c.relation_labels, c.answers[0][1], c.score, prior=p)
                  for c, p in zip(CANDS, (-0.5, -1.5, -2.0), strict=True))  # fmt: skip
    ev = Evidence(QUESTION, (), candidates=cands)
    choice = Reader(object(), policy_weight=1.0).choose([ev], LOGITS)[0]
    assert choice.index == 1
