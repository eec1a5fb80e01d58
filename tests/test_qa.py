"""QA files (MetaQA, PathQuestion, JSONL, plain) and QA metrics."""

from __future__ import annotations

import pytest

from kgagent.qa import QAFormatError, evaluate, hits_at_1, read_qa


def test_every_format(tmp_path):
    f = tmp_path / "qa.txt"
    f.write_text(
        "what movies did [Nolan] direct\tInception|Interstellar\n"
        "\n"
        "what is the nation of x 's couple ?\tunited_kingdom(united_kingdom/uk)\tx#spouse#y#nat#"
        "united_kingdom#<end>#united_kingdom\n"
        '{"question": "who directed Titanic", "answers": ["James Cameron"]}\n'
        "a plain question\n"
    )
    items = read_qa(f)
    assert [it.question for it in items] == [
        "what movies did [Nolan] direct",
        "what is the nation of x 's couple ?",
        "who directed Titanic",
        "a plain question",
    ]
    assert items[0].answers == ("Inception", "Interstellar")
    assert items[1].answers == ("united_kingdom", "uk")
    assert items[2].answers == ("James Cameron",)
    assert items[3].answers == () and items[3].line == 5


def test_bad_lines_name_file_and_line(tmp_path):
    f = tmp_path / "qa.jsonl"
    f.write_text('{"question": "ok", "answers": []}\n{"answers": ["x"]}\n')
    with pytest.raises(QAFormatError, match=r"qa\.jsonl:2: bad JSON QA line"):
        read_qa(f)
    with pytest.raises(QAFormatError, match="cannot read"):
        read_qa(tmp_path / "missing.txt")


def test_metrics():
    r = evaluate(
        [["A", "B"], ["x"], []],
        [["a"], ["y"], ["z"]],
        abstained=[False, False, True],
        latencies_ms=[10, 20, 30],
    )
    assert r["hits_at_1"] == pytest.approx(1 / 3)
    assert r["em"] == 0.0  # {a, b} != {a}
    assert r["f1"] == pytest.approx((2 * 0.5 * 1 / 1.5) / 3)
    assert r["abstention_rate"] == pytest.approx(1 / 3)
    assert r["latency_p50_ms"] == 20


def test_hits_at_1_per_question_matches_evaluate():
    pred = [["  Paris "], ["Lyon", "Paris"], []]
    gold = [["paris"], ["Paris"], ["Paris"]]
    assert hits_at_1(pred, gold).tolist() == [True, False, False]
    assert hits_at_1(pred, gold).mean() == evaluate(pred, gold)["hits_at_1"]
