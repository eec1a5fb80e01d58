"""The LLM contract, run against every case of every registered LLM backend.

What the reader relies on (kgagent/llm/base.py): ``choose`` gives one row of
log-probabilities per conversation over the options (yes/no for a candidate, digits),
normalized and in input order; ``generate`` one string per conversation; ``name`` and
``scores_choices`` describe the model. The openai backend runs against a real loopback
server (``OpenAIServer``) serving a deterministic fake; the transformers backend loads
the real SmolLM2 and is marked ``slow``.
"""

from __future__ import annotations

import numpy as np

from kgagent.llm import LLM_BACKENDS
from kgagent.llm.base import LLM
from kgagent.llm.prompt import NO, YES, conversation
from kgagent.types import Candidate

DIGITS = [str(i) for i in range(5)]


def _candidate(relation: str, answer: str) -> Candidate:
    return Candidate(
        topic="http://example.org/inception",
        topic_label="Inception",
        relations=(f"http://example.org/{relation.replace(' ', '_')}",),
        inverse=(False,),
        relation_labels=(relation,),
        answers=((f"http://example.org/{answer}", answer),),
        total=1,
        support=((),),
    )


CONVERSATIONS = [
    conversation("Who directed Inception?", _candidate("directed by", "Christopher Nolan")),
    conversation("Who directed Inception?", _candidate("release year", "2010")),
    [{"role": "user", "content": "Reply with the number 3."}],
]


def _is_log_distribution(rows: np.ndarray) -> None:
    assert not np.isnan(rows).any()
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, rtol=1e-6)


def test_is_the_registered_class_and_an_llm(llm, llm_case):
    assert isinstance(llm, LLM_BACKENDS.get(llm_case.name))
    assert isinstance(llm, LLM)
    assert isinstance(llm.name, str) and llm.name
    assert isinstance(llm.scores_choices, bool)


def test_choose_yes_no_as_the_reader_asks(llm):
    rows = llm.choose(CONVERSATIONS[:2], [YES, NO])
    assert rows.shape == (2, 2)
    _is_log_distribution(rows)


def test_choose_digits_keeps_the_input_order(llm):
    rows = llm.choose(CONVERSATIONS, DIGITS)
    assert rows.shape == (len(CONVERSATIONS), len(DIGITS))
    _is_log_distribution(rows)
    again = llm.choose(CONVERSATIONS[::-1], DIGITS)[::-1]
    assert (rows.argmax(axis=1) == again.argmax(axis=1)).all()


def test_choose_nothing(llm):
    assert llm.choose([], [YES, NO]).shape == (0, 2)


def test_choose_is_deterministic(llm):
    a = llm.choose(CONVERSATIONS[:1], [YES, NO])
    b = llm.choose(CONVERSATIONS[:1], [YES, NO])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_generate_one_string_per_conversation(llm):
    replies = llm.generate(CONVERSATIONS[:2], max_new_tokens=4)
    assert isinstance(replies, list) and len(replies) == 2
    assert all(isinstance(r, str) for r in replies)
    assert llm.generate([], max_new_tokens=4) == []
