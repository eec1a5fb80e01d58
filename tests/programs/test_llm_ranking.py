"""The LLM ranks a typed question's programs: their prompts, the choice it makes with the
proposer's ranking as a prior, and the fine-tuning examples built from gold answers."""

from __future__ import annotations

import numpy as np

from kgagent.llm.base import normalize_rows
from kgagent.programs import Chain, EntityConstraint, Program, ValueConstraint, ValueOf, execute
from kgagent.programs.prompt import program_conversation, program_line, result_line
from tests.programs.conftest import E, R

SPIELBERG = Chain(E + "spielberg", ((R + "directed_by", True),))


class PrefersLM:
    """Says "yes" (log-odds +4) to a program whose line holds ``word``, "no" to the rest;
    records every prompt it reads."""

    name = "prefers-test-lm"
    scores_choices = True

    def __init__(self, word: str) -> None:
        self.word, self.prompts = word, []

    def choose(self, conversations, options):
        assert list(options) == ["yes", "no"]
        rows = []
        for conv in conversations:
            text = conv[-1]["content"]
            self.prompts.append(text)
            line = text.split("Program: ", 1)[1].split("\n", 1)[0]
            rows.append([4.0 if self.word in line else -4.0, 0.0])
        return normalize_rows(np.array(rows))

    def generate(self, conversations, *, max_new_tokens=64):
        return ["no"] * len(conversations)


def _reader(agent):
    return agent._typed_reader()


def test_a_program_reads_as_its_operation_chain_constraints_and_result(films):
    agent, graph = films
    names = _reader(agent).names
    count = Program("count", chain=SPIELBERG)
    line = program_line(count, names)
    assert line.startswith('how many of "Steven Spielberg" → ')
    assert names.relation(R + "directed_by", True) in line
    assert result_line(execute(count, graph)).startswith('"5": ')
    both = Program("entities", chain=SPIELBERG, constraints=(
        EntityConstraint(E + "neill", ((R + "starred_actors", False),)),
        ValueConstraint(R + "release_year", "=", "1993"),
    ))  # fmt: skip
    line = program_line(both, names)
    assert '"Sam Neill"' in line and '= "1993"' in line and " and " in line
    first = Program("argmin", chain=SPIELBERG, by=ValueOf(R + "released", domain="date"))
    assert program_line(first, names).startswith("smallest ")
    assert "(1975-06-20)" in result_line(execute(first, graph))  # the value it compared
    older = Program("compare", by=ValueOf(R + "release_year"), order="<",
                    pair=(E + "jaws", E + "ronin"))  # fmt: skip
    assert program_line(older, names).startswith('whether "Jaws" is smaller than "Ronin"')
    assert result_line(execute(older, graph)) == "yes"
    exists = Program("exists", chain=SPIELBERG, target=E + "ronin")
    conv = program_conversation("Did Spielberg direct Ronin?", execute(exists, graph), names)
    assert conv[0]["role"] == "system"
    assert conv[1]["content"].splitlines() == [
        "Question: Did Spielberg direct Ronin?",
        f"Program: {program_line(exists, names)}",
        "Result: no",
        "Answers it?",
    ]


def test_graph_text_in_a_program_prompt_is_quoted_data(films):
    """A label that forges prompt lines stays one quoted line (the hostile literal
    '19"93 } .' is a language of Duel)."""
    agent, graph = films
    names = _reader(agent).names
    value = Program("value", chain=Chain(E + "duel", ((R + "language", False),)))
    conv = program_conversation("What language is Duel in?", execute(value, graph), names)
    lines = conv[1]["content"].splitlines()
    assert len(lines) == 4 and lines[2] == 'Result: "19\'93 } ."'


def test_without_an_llm_the_proposer_decides_and_with_one_the_llm_can_overrule(films):
    agent, _ = films
    reader = _reader(agent)
    question = "What is the earliest film Steven Spielberg directed?"
    ev = agent.retriever.evidence([question])[0]
    plain = reader.read([ev])[0]
    assert plain.labels == ["Duel"]  # the proposer's first: by the MetaQA-style year
    # an LLM that believes only the programs ordering by r:year picks the best of them
    llm = PrefersLM('smallest "year"')
    picked = reader.read([ev], llm)[0]
    assert picked.labels == ["Jaws"] and picked.sparql != plain.sparql
    assert len(llm.prompts) == 4 and all(p.startswith("Question: ") for p in llm.prompts)
    assert 0.5 < picked.confidence <= 1.0
    # an LLM that rejects everything leaves the proposer's order (the prior) in charge
    rejected = reader.read([ev], PrefersLM("no such word"))[0]
    assert rejected.labels == plain.labels


def test_agent_asks_rank_programs_with_its_llm_where_configured(films):
    from kgagent.config import QAConfig

    agent, _ = films
    llm = PrefersLM('"directed" → "release year"')  # counts the years, not the films
    saved, config = agent.llm, agent.config
    question = "How many films did Steven Spielberg direct?"
    try:
        agent.llm = llm
        assert agent.ask(question).labels == ["5"]  # qa.programs_llm is off by default
        assert not llm.prompts
        agent.config = config.model_copy(update={"qa": QAConfig(programs_llm=True)})
        a = agent.ask(question)
    finally:
        agent.llm, agent.config = saved, config
    assert (a.kind, a.labels) == ("number", ["4"])
    assert agent.ask(question).labels == ["5"]


def test_a_fine_tuning_example_targets_the_program_giving_the_gold(films):
    agent, _ = films
    reader = _reader(agent)
    question = "How many films did Steven Spielberg direct?"
    ev = agent.retriever.evidence([question])[0]
    ex = reader.example(ev, ["5"])
    assert ex is not None and ex.conversations
    assert "Program: how many of" in ex.conversations[ex.target - 1][1]["content"]
    assert reader.example(ev, ["12"]).target == 0  # no program gives it: none
    chain = agent.retriever.evidence(["Who directed Jaws?"])[0]
    assert reader.example(chain, ["Steven Spielberg"]) is None  # a chain question
