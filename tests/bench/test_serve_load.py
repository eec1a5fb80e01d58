"""bench/serve_load.py without a service: percentiles, the answer check, a phase's
summary, the table and the questions file."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import serve_load
from serve_load import Ask, check_answers, percentile, read_questions, summarize, table


@pytest.mark.parametrize("q", [0.0, 0.5, 0.95, 0.99, 1.0])
def test_percentile_matches_numpys_linear_interpolation(q):
    values = [12.0, 3.0, 7.5, 100.0, 41.0, 8.0, 8.0, 55.5, 0.5, 19.0, 23.0]
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))


def test_percentile_edges():
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.99) == 4.0
    assert percentile([1.0, 2.0], 0.5) == 1.5
    with pytest.raises(ValueError, match="q: 95"):
        percentile([1.0], 95)


REFERENCE = {"Who directed Inception?": ("Christopher Nolan",), "Memento or Inception?": ()}


def test_check_answers_compares_lists_in_order_and_skips_errors():
    asks = [
        Ask("Who directed Inception?", 200, 10.0, ("Christopher Nolan",)),
        Ask("Memento or Inception?", 200, 11.0, ()),
        Ask("Who directed Inception?", 200, 12.0, ("Denis Villeneuve",)),  # mixed up
        Ask("Who directed Inception?", 429, 1.0),  # refused: nothing to compare
        Ask("Who directed Inception?", None, 5.0, error="ReadTimeout"),
    ]
    out = check_answers(REFERENCE, asks)
    assert out["checked"] == 3
    assert out["mismatches"] == [
        {
            "question": "Who directed Inception?",
            "expected": ["Christopher Nolan"],
            "got": ["Denis Villeneuve"],
        }
    ]
    order = {"q": ("a", "b")}
    swapped = check_answers(order, [Ask("q", 200, 1.0, ("b", "a"))])
    assert len(swapped["mismatches"]) == 1  # the same set in another order differs


def test_check_answers_needs_a_reference_for_every_question():
    with pytest.raises(KeyError, match="never asked"):
        check_answers(REFERENCE, [Ask("never asked", 200, 1.0, ("x",))])


def test_summarize_counts_errors_by_status_or_exception():
    asks = [Ask("q", 200, float(ms), ("a",)) for ms in range(1, 101)]
    asks += [Ask("q", 429, 0.5), Ask("q", 429, 0.7), Ask("q", None, 9.0, error="ConnectError")]
    asks.append(Ask("q", 200, 3.0, error="reply without answers"))
    out = summarize(asks, wall_s=4.0, clients=16)
    assert out["asks"] == 104 and out["ok"] == 100 and out["clients"] == 16
    assert out["questions_per_s"] == 25.0  # only the 200 replies with answers count
    assert out["p50_ms"] == 50.5 and out["p95_ms"] == 95.0 and out["p99_ms"] == 99.0
    assert out["errors"] == {"429": 2, "ConnectError": 1, "reply without answers": 1}


def test_summarize_without_replies():
    out = summarize([Ask("q", None, 1.0, error="ConnectError")], wall_s=1.0, clients=1)
    assert out["ok"] == 0 and out["p50_ms"] is None and out["questions_per_s"] == 0.0


def test_table_rows_ratio_and_answer_check():
    single = summarize([Ask("q", 200, 10.0, ("a",))] * 40, wall_s=2.0, clients=1)
    many = summarize(
        [Ask("q", 200, 30.0, ("a",))] * 90 + [Ask("q", 429, 1.0)] * 3, wall_s=3.0, clients=16
    )
    checks = [
        {"checked": 40, "mismatches": []},
        {"checked": 90, "mismatches": [{"question": "q", "expected": [], "got": []}]},
    ]
    text = table([single, many], checks)
    lines = text.splitlines()
    assert lines[0].startswith("| clients | asks | answers/s | vs 1 client")
    assert len(lines) == 4 and all(line.count("|") == lines[0].count("|") for line in lines)
    assert lines[2] == "| 1 | 40 | 20.00 | 1.00x | 10.0 | 10.0 | 10.0 | none | 40/40 |"
    assert lines[3] == "| 16 | 93 | 30.00 | 1.50x | 30.0 | 30.0 | 30.0 | 429: 3 | 89/90 |"


def test_read_questions_plain_and_json_lines(tmp_path):
    path = tmp_path / "q.txt"
    path.write_text(
        '# demo\nWho directed Inception?\n\n{"question": " When was Heat released? "}\n'
    )
    assert read_questions(path) == ["Who directed Inception?", "When was Heat released?"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('Who?\n{"q": "no question field"}\n')
    with pytest.raises(SystemExit, match=r"bad.jsonl:2: expected a JSON object"):
        read_questions(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(SystemExit, match="no questions"):
        read_questions(empty)


def test_demo_questions_are_the_demos():
    """The built-in list is examples/demo.py's stand-alone questions, kept in step."""
    demo = (Path(__file__).resolve().parents[2] / "examples" / "demo.py").read_text()
    assert all(f'"{q}"' in demo for q in serve_load.DEMO_QUESTIONS)
    assert len(set(serve_load.DEMO_QUESTIONS)) == len(serve_load.DEMO_QUESTIONS) == 12


def _phase(clients: int, qps: float, p50: float, errors: dict, mismatches: int) -> dict:
    return {"clients": clients, "questions_per_s": qps, "p50_ms": p50, "errors": errors,
            "mismatch_count": mismatches}  # fmt: skip


def test_reading_puts_the_many_clients_against_the_one():
    one = _phase(1, 20.0, 50.0, {}, 0)
    text = serve_load.reading([one, _phase(16, 30.0, 500.0, {}, 0)])
    assert text == (
        "16 clients at once: 1.50x the single client's answers per second, each ask 10.0x "
        "as long at the median; no errors; every answer the sequential one."
    )
    text = serve_load.reading([one, _phase(16, 10.0, 100.0, {"429": 4, "ReadTimeout": 1}, 2)])
    assert "5 errors" in text and "ANSWERS DIFFER" in text
    assert serve_load.reading([_phase(1, 0.0, None, {"500": 3}, 0), one]).startswith("No ratio")
