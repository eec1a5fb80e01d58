"""KAPING with kgagent's parts: the zero-shot baseline of ``bench/zeroshot.py``.

KAPING (Baek, Aji and Saffari 2023, "Knowledge-Augmented Language Model Prompting for
Zero-Shot Knowledge Graph Question Answering") needs no training at all: link the
question's entities, take the triples touching them, keep the k most similar to the
question by a sentence encoder, put them in the prompt and let the LLM generate the
answer. Here: kgagent's entity linker and verbalized fact table, MiniLM (the workspace's
encoder and fact vectors) and SmolLM2-135M-Instruct, greedy.

Why not ``Agent.retrieve(question, k=10)``: it ranks the same neighbourhood, but mixes the
MiniLM similarity with relation relevance and a linking bonus, caps the share of one
relation in the top k, and searches the whole index when no link is confident. KAPING
ranks by the similarity alone, so :func:`kaping_facts` does that (``--kaping-facts
agent`` in ``bench/zeroshot.py`` uses ``Agent.retrieve`` instead).

Scoring a generation: ``hits_at_1`` (strict) counts it right when its first answer (the
text split on commas, semicolons, newlines and "and", except inside a gold answer that
starts a part: "Pride and Prejudice") is a gold answer after
:func:`kgagent.text.normalize_answer`; ``contains`` (lenient) when any gold answer occurs
in the generation as whole words, as KAPING's own evaluation does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np

from kgagent.text import normalize_answer

__all__ = [
    "INSTRUCTION",
    "SYSTEM",
    "Generator",
    "agent_facts",
    "contains_gold",
    "conversation",
    "kaping_facts",
    "run",
    "score",
    "split_answers",
]

#: KAPING's prompt head (its appendix), then one fact a line, the question, "Answer:"
INSTRUCTION = "Below are facts in the form of the triple meaningful to answer the question."
#: a system line asking for names only (SmolLM2-135M still answers in sentences more
#: often than not; the lenient ``contains`` scores those)
SYSTEM = "Answer with the names only, separated by commas."
_SEP = re.compile(r"\s*(?:[,;]|\band\b)\s*")
_EDGE = " \t\"'`.:*-"


def kaping_facts(retriever, questions: Sequence[str], *, k: int = 10) -> list[list[str]]:
    """The top ``k`` verbalized facts of each question, KAPING's way.

    The facts touching the question's linked entities (the best entity of each mention,
    linked with at least ``retriever.w.link_min``), ranked by the cosine of their MiniLM
    vector (the fact index's) with the question's.
    """
    from kgagent.text import strip_hints

    table, index = retriever.facts, retriever.index
    qvecs = np.asarray(retriever.encoder.encode([strip_hints(q) for q in questions]))  # (n, d)
    out = []
    for question, qvec in zip(questions, qvecs, strict=True):
        rows = [table.rows_touching(f"<{iri}>") for iri in _entities(retriever, question)]
        cand = np.unique(np.concatenate(rows)) if rows else np.empty(0, dtype=np.int64)
        if len(cand) == 0:
            out.append([])
            continue
        sim = index.vectors(table.ids[cand]) @ qvec  # (c, d) @ (d,) -> (c,)
        top = cand[np.argsort(-sim, kind="stable")[:k]]
        texts = table.column("text")
        out.append([str(texts[r]) for r in top])
    return out


def _entities(retriever, question: str) -> list[str]:
    """The best entity of each mention (KAPING links each mention once)."""
    seen: dict[tuple[int, int], str] = {}
    for e in retriever.linker.link(question):
        if e.score < retriever.w.link_min:
            continue
        span = (e.start, e.end) if e.start >= 0 else (-1, len(seen))
        seen.setdefault(span, e.iri)
    return list(dict.fromkeys(seen.values()))


def agent_facts(agent, questions: Sequence[str], *, k: int = 10) -> list[list[str]]:
    """The top ``k`` facts ``Agent.retrieve`` ranks (the agent's mix of signals)."""
    return [[f.text for f in agent.retrieve(q, k=k).facts] for q in questions]


def conversation(question: str, facts: Sequence[str]) -> list[dict[str, str]]:
    """KAPING's prompt as chat messages."""
    lines = "\n".join(" ".join(str(f).split()) for f in facts)
    user = f"{INSTRUCTION}\n{lines}\n\nQuestion: {question}\nAnswer:"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def split_answers(text: str, gold: Sequence[str] = ()) -> list[str]:
    """A generation's answers in order, normalized: "Answer: A, B and C." -> [a, b, c].

    Split at commas, semicolons, newlines and "and", except inside a ``gold`` answer
    that starts a part ("Pride and Prejudice", "Crouching Tiger, Hidden Dragon").
    """
    golds = sorted({normalize_answer(g) for g in gold} - {""}, key=len, reverse=True)
    text = str(text).strip()
    if text[:7].lower() == "answer:":
        text = text[7:]
    out = []
    for line in text.splitlines():
        rest = normalize_answer(line).lstrip(_EDGE)
        while rest:
            g = _gold_at(rest, golds)
            if g is not None:
                piece, rest = g, rest[len(g) :]
            else:
                m = _SEP.search(rest)
                piece, rest = (rest[: m.start()], rest[m.start() :]) if m else (rest, "")
            if piece.strip(_EDGE):
                out.append(piece.strip(_EDGE))
            m = _SEP.match(rest)
            rest = (rest[m.end() :] if m else rest).lstrip(_EDGE)
    return out


def _gold_at(rest: str, golds: Sequence[str]) -> str | None:
    """The longest gold answer ``rest`` starts with, ended by a separator or the end."""
    for g in golds:
        if rest.startswith(g):
            tail = rest[len(g) :].lstrip(_EDGE.strip())  # a closing quote or full stop
            if not tail.strip() or _SEP.match(tail):
                return g
    return None


def contains_gold(text: str, gold: Sequence[str]) -> bool:
    """Whether any gold answer occurs in ``text`` as whole words (normalized both)."""
    hay = normalize_answer(text)
    return any(
        g and re.search(rf"(?<!\w){re.escape(g)}(?!\w)", hay)
        for g in (normalize_answer(a) for a in gold)
    )


def score(generations: Sequence[str], gold: Sequence[Sequence[str]]) -> dict[str, float]:
    """kgagent.qa.evaluate of the split answers (``hits_at_1`` strict: the first answer),
    plus ``contains`` (lenient) and ``abstention_rate`` (an empty generation)."""
    from kgagent.qa import evaluate

    preds = [split_answers(t, g) for t, g in zip(generations, gold, strict=True)]
    out = evaluate(preds, gold, abstained=[not p for p in preds])
    n = max(1, len(gold))
    out["contains"] = sum(contains_gold(t, g) for t, g in zip(generations, gold, strict=True)) / n
    return out


class Generator:
    """SmolLM2-135M-Instruct through transformers: greedy, left-padded batches.

    Args:
        model: a name :func:`kgagent.llm.models.resolve_model` knows, or a directory.
        max_new_tokens: the answer's length limit.
        batch_size: prompts per ``generate`` call.
    """

    def __init__(self, model: str = "smollm2", *, max_new_tokens: int = 24, batch_size: int = 16):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from kgagent.llm.models import resolve_model

        path = resolve_model(model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        self.max_new_tokens = int(max_new_tokens)
        self.batch_size = max(1, int(batch_size))

    def generate(self, conversations: Sequence[Sequence[dict[str, str]]]) -> list[str]:
        import torch

        tok = self.tokenizer
        texts = [
            tok.apply_chat_template(list(c), tokenize=False, add_generation_prompt=True)
            for c in conversations
        ]
        out: list[str] = []
        for b in range(0, len(texts), self.batch_size):
            batch = tok(
                texts[b : b + self.batch_size],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            )
            with torch.inference_mode():
                gen = self.model.generate(
                    **batch,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )
            new = gen[:, batch["input_ids"].shape[1] :]  # (b, new tokens)
            out += [tok.decode(row, skip_special_tokens=True).strip() for row in new]
        return out


def run(
    agent,
    generator: Generator,
    questions: Sequence[str],
    gold: Sequence[Sequence[str]],
    *,
    k: int = 10,
    facts: str = "kaping",
    latency_n: int = 50,
) -> tuple[dict, list[dict]]:
    """KAPING on ``questions``: the metrics, and one row per question (facts, generation).

    Latency: one question at a time (retrieval and generation) for the first
    ``latency_n`` questions; throughput from the batched run.
    """
    retrieve = (
        (lambda qs: kaping_facts(agent.retriever, qs, k=k))
        if facts == "kaping"
        else (lambda qs: agent_facts(agent, qs, k=k))
    )
    t0 = time.perf_counter()
    found = retrieve(questions)
    generations = generator.generate(
        [conversation(q, f) for q, f in zip(questions, found, strict=True)]
    )
    seconds = time.perf_counter() - t0
    metrics = score(generations, gold)
    metrics["no_facts_rate"] = sum(not f for f in found) / max(1, len(found))
    metrics["questions_per_s"] = len(questions) / seconds if seconds else 0.0
    lat = []
    for q in questions[:latency_n]:
        t = time.perf_counter()
        generator.generate([conversation(q, retrieve([q])[0])])
        lat.append((time.perf_counter() - t) * 1000)
    metrics["latencies_ms"] = lat
    rows = [
        {"question": q, "facts": f, "generation": g, "gold": list(a)}
        for q, f, g, a in zip(questions, found, generations, gold, strict=True)
    ]
    return metrics, rows
