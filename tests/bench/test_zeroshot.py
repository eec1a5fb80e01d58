"""The pure parts of bench/zeroshot.py and bench/_kaping.py: answer matching of generated
text, KAPING's fact ranking (fakes for the linker, index and encoder), question
sampling, training times and the table. No model is loaded."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _kaping
import zeroshot

from kgagent.retrieval.facts import FactTable

# -- answer matching ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "gold", "expected"),
    [
        ("Answer: Tom Hanks, Meg Ryan and Bill.", (), ["tom hanks", "meg ryan", "bill"]),
        ("Tom Hanks\nMeg Ryan; Bill", (), ["tom hanks", "meg ryan", "bill"]),
        (
            '"Pride and Prejudice" and Emma',
            ("Pride and Prejudice",),
            ["pride and prejudice", "emma"],
        ),
        (
            "Crouching Tiger, Hidden Dragon, Hero",
            ("Crouching Tiger, Hidden Dragon",),
            ["crouching tiger, hidden dragon", "hero"],
        ),
        ("Prideful and X", ("Pride",), ["prideful", "x"]),
        ("united_kingdom.", (), ["united kingdom"]),
        ("", (), []),
        (" , and ;", (), []),
    ],
)
def test_split_answers(text, gold, expected):
    assert _kaping.split_answers(text, gold) == expected


def test_contains_gold_whole_words_only():
    assert _kaping.contains_gold("The film was directed by John Smith.", ["john_smith"])
    assert not _kaping.contains_gold("Upton Sinclair", ["Up"])
    assert not _kaping.contains_gold("anything", [""])


def test_score_strict_first_answer_and_lenient_contains():
    gens = ["Meg Ryan, Tom Hanks", "It was directed by John Smith.", "", "1999"]
    gold = [("Tom Hanks",), ("John Smith",), ("X",), ("1999", "2001")]
    m = _kaping.score(gens, gold)
    assert m["hits_at_1"] == pytest.approx(1 / 4)  # only "1999" is a first answer
    assert m["contains"] == pytest.approx(3 / 4)
    assert m["abstention_rate"] == pytest.approx(1 / 4)
    assert m["f1"] == pytest.approx((2 / 3 * 1 + 0 + 0 + 2 / 3) / 4)


def test_conversation_is_kapings_prompt():
    system, user = _kaping.conversation(
        "who directed Heat?", ["Heat directed by Michael Mann", "x\ny"]
    )
    assert system["role"] == "system" and user["role"] == "user"
    assert user["content"] == (
        f"{_kaping.INSTRUCTION}\nHeat directed by Michael Mann\nx y\n\n"
        "Question: who directed Heat?\nAnswer:"
    )


# -- KAPING's retrieval -------------------------------------------------------------------


def _fake_retriever(linked):
    """Facts 0-3 touch <e:a>, 4 touches <e:b> only; each fact's vector says how
    similar it is to every question (the encoder returns e0)."""
    frame = pd.DataFrame(
        {
            "id": np.arange(10, 15, dtype=np.int64),
            "s": ["<e:a>", "<e:a>", "<e:x>", "<e:a>", "<e:b>"],
            "p": ["<r:p>"] * 5,
            "o": ["<e:y>", "<e:z>", "<e:a>", "<e:w>", "<e:v>"],
            "text": [f"fact {i}" for i in range(5)],
        }
    )
    sims = {10: 0.1, 11: 0.9, 12: 0.5, 13: -0.2, 14: 1.0}
    index = SimpleNamespace(vectors=lambda ids: np.array([[sims[int(i)], 0.0] for i in ids]))
    encoder = SimpleNamespace(encode=lambda texts: np.tile([1.0, 0.0], (len(texts), 1)))
    linker = SimpleNamespace(link=lambda q: linked)
    return SimpleNamespace(
        facts=FactTable(frame),
        index=index,
        encoder=encoder,
        linker=linker,
        w=SimpleNamespace(link_min=0.5),
    )


def _ent(iri, score, start=0, end=3):
    return SimpleNamespace(iri=iri, score=score, start=start, end=end)


def test_kaping_facts_rank_the_linked_neighbourhood_by_similarity():
    r = _fake_retriever([_ent("e:a", 0.9), _ent("e:b", 0.8)])  # same span: e:b an alternative
    assert _kaping.kaping_facts(r, ["q"], k=3) == [["fact 1", "fact 2", "fact 0"]]
    r = _fake_retriever([_ent("e:a", 0.9), _ent("e:b", 0.8, 5, 8)])  # two mentions
    assert _kaping.kaping_facts(r, ["q"], k=2) == [["fact 4", "fact 1"]]
    r = _fake_retriever([_ent("e:b", 0.4), _ent("e:a", 0.6, 5, 8)])  # a weak link is ignored
    assert _kaping.kaping_facts(r, ["q"], k=10) == [["fact 1", "fact 2", "fact 0", "fact 3"]]
    assert _kaping.kaping_facts(_fake_retriever([]), ["q", "r"]) == [[], []]


# -- questions ----------------------------------------------------------------------------


def test_sample_is_fixed_and_matches_qa_metaqa():
    pool = list(range(1000))
    assert zeroshot.sample(pool, 30) == random.Random(7).sample(pool, 30)
    assert zeroshot.sample(pool, 30) == zeroshot.sample(pool, 30)
    assert zeroshot.sample(pool[:5], 30) == pool[:5]
    assert zeroshot.sample(pool, None) == pool


def _metaqa(tmp_path: Path) -> Path:
    for hop in (1, 2, 3):
        d = tmp_path / "metaqa" / f"{hop}-hop"
        d.mkdir(parents=True)
        lines = [f"q{hop}-{i} of [Topic {i}]\tans{i}|alt{i}" for i in range(20)]
        (d / "qa_dev.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_metaqa_questions_come_from_the_held_out_lists(tmp_path):
    data = _metaqa(tmp_path)
    split = tmp_path / "qa_split.json"
    held = {"1": [0, 1, 2], "2": list(range(10, 20)), "3": [5]}
    split.write_text(json.dumps({"heldout": held}))
    q = zeroshot.load_questions("metaqa", data, split=split, limit=4)
    assert str(split) in q["source"]
    assert sorted(q["hops"][1]) == [
        (f"q1-{i} of Topic {i}", (f"ans{i}", f"alt{i}")) for i in range(3)
    ]
    assert len(q["hops"][2]) == 4 and all(
        int(x.split("-")[1].split()[0]) >= 10 for x, _ in q["hops"][2]
    )
    assert [x for x, _ in q["hops"][3]] == ["q3-5 of Topic 5"]
    assert q == zeroshot.load_questions("metaqa", data, split=split, limit=4)
    every = zeroshot.load_questions("metaqa", data, split=None, limit=None)
    assert every["source"] == "MetaQA dev" and len(every["hops"][2]) == 20


def test_pathquestion_questions_are_the_test_split(tmp_path):
    d = tmp_path / "kgqa_pathquestion"
    d.mkdir()
    rows = [
        f"what is x_{i} 's y ?\tans_{i}(ans_{i}/)\tx_{i}#r#m#s#ans_{i}#<end>#ans_{i}"
        for i in range(30)
    ]
    (d / "PQ-2H.txt").write_text("\n".join(rows) + "\n")
    q = zeroshot.load_questions("pathquestion", tmp_path, split=None, limit=300)
    assert list(q["hops"]) == [2] and len(q["hops"][2]) == 3  # a tenth, as pathquestion.py
    assert all(a == (f"ans_{x.split('_')[1].split()[0]}",) for x, a in q["hops"][2])


# -- training time and the table -------------------------------------------------------------


def test_training_seconds(tmp_path):
    assert zeroshot.training_seconds("kaping", None) == 0.0
    assert zeroshot.training_seconds("trained", None) is None
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "train.json").write_text(json.dumps({"seconds": 321.5}))
    assert zeroshot.training_seconds("trained", tmp_path) == 321.5
    sup = tmp_path / "sup"
    sup.mkdir()
    report = {"policy_seconds": 100.0, "finetune_seconds": 800.0, "finetune": {}}
    (sup / "build_report.json").write_text(json.dumps(report))
    assert zeroshot.training_seconds("supervised", sup) == 900.0
    report["finetune"] = {"reused": True, "train_seconds": 700.0, "retrieve_seconds": 80.0}
    (sup / "build_report.json").write_text(json.dumps(report))
    assert zeroshot.training_seconds("supervised", sup) == 880.0


def _system(hits, **extra):
    hops = {h: {"hits_at_1": v, "f1": v, "abstention_rate": 0.1, **extra} for h, v in hits.items()}
    return {
        "hops": hops,
        "f1": sum(hits.values()) / len(hits),
        "latency_p50_ms": 12.4,
        "train_seconds": extra.pop("train", 0.0),
    }


def _results(dataset, hops):
    per_hop = {str(h): 5 for h in hops}
    return {
        "dataset": dataset,
        "machine": {"cores": 2, "date": "2026-12-05"},
        "questions": {"source": "somewhere", "limit": 5, "per_hop": per_hop},
        "build": {"init_seconds": 0.2, "triples": 1234, "load_seconds": 1.0, "index_seconds": 120},
        "train": {
            "questions": {"train": 1700, "valid": 300},
            "zero_shot": {"hits_at_1": 0.5},
            "policy": {"hits_at_1": 0.6, "used": True},
            "seconds": 600,
        },
        "systems": {
            "untrained": _system({str(h): 0.5 for h in hops}),
            "kaping": {
                **_system({str(h): 0.25 for h in hops}, contains=0.75),
                "k": 10,
                "facts": "kaping",
            },
            "trained": {**_system({str(h): 0.8 for h in hops}), "train_seconds": 600.0},
        },
    }


def test_render_metaqa_and_pathquestion():
    text = zeroshot.render(
        {"metaqa": _results("metaqa", (1, 2, 3)), "pathquestion": _results("pathquestion", (2,))}
    )
    assert text.startswith("## No QA data: MetaQA / PathQuestion (`bench/zeroshot.py`)")
    mq, pq = text.split("### PathQuestion PQ-2H")
    assert "| system | 1-hop | 2-hop | 3-hop | F1 | abstain | training | p50 ms |" in mq
    assert (
        "| untrained agent (init, load, index: the zero-shot ranker reads) | 0.500 | 0.500 | 0.500 "
        "| 0.500 | 0.100 | none | 12 |" in mq
    )
    assert "| KAPING recipe: MiniLM top-10 facts -> SmolLM2-135M | 0.250 | 0.250 | 0.250 |" in mq
    assert "lenient (a gold answer anywhere in the generation) | 0.750 | 0.750 | 0.750 |" in mq
    assert "| 0.800 | 0.800 | 0.800 | 0.800 | 0.100 | 10.0 min | 12 |" in mq
    assert "| KAPING with GPT-3.5 (published, re-run by others) | 0.908 | 0.712 | 0.430 |" in mq
    assert "done when) | 0.910 | 0.750 | 0.500 |" in mq
    assert "1,700 synthesized questions" in mq and "path policy 0.600 (used)" in mq
    assert "| system | 2-hop | F1 | abstain | training | p50 ms |" in pq
    assert "GPT-3.5" not in pq and "issue 18" not in pq
    for table in (mq, pq):  # every row has the header's number of cells
        rows = [ln for ln in table.splitlines() if ln.startswith("|")]
        assert len({ln.count("|") for ln in rows}) == 1
