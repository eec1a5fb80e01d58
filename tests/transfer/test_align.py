"""Vocabulary alignment (IRI, label, encoder), coverage, and the fill of unmatched rows."""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.retrieval.encoder import HashingEncoder
from kgagent.transfer.align import align, fill_rows, normalize_label

SRC = ["<http://a/Titanic>", "<http://a/Inception>", "<http://a/Heat>", "<http://a/Up>",
       "<http://a/directedBy>", "<http://a/Twin1>", "<http://a/Twin2>"]  # fmt: skip
SRC_LABELS = ["Titanic", "Inception", "Heat", "Up", "directedBy", "Twin", "Twin"]


def test_normalized_labels_ignore_case_punctuation_and_word_style():
    assert normalize_label("directedBy") == normalize_label("directed_by") == "directed by"
    assert normalize_label("  Directed   by. ") == "directed by"
    assert normalize_label("Amélie") == "amélie" and normalize_label("ﬁlm") == "film"  # NFKC


def test_iri_first_then_label_then_nothing():
    tgt = ["<http://a/Titanic>", "<http://b/inception>", "<http://b/dir>", "<http://b/x>",
           "<http://b/twin>", "<http://b/heat>"]  # fmt: skip
    labels = ["Titanic", "INCEPTION", "directed by", "Nothing alike", "twin", "Heat"]
    al = align(source_terms=SRC, source_labels=SRC_LABELS, target_terms=tgt,
               target_labels=labels)  # fmt: skip
    assert al.source.tolist() == [0, 1, 4, -1, -1, 2]
    assert al.method.tolist() == [1, 2, 2, 0, 0, 2]  # iri, label, label, -, ambiguous, label
    cov = al.coverage()
    assert cov["target"] == 6 and cov["source"] == 7 and cov["aligned"] == 4
    assert cov["by_method"]["iri"] == {"count": 1, "fraction": round(1 / 6, 4)}
    assert cov["by_method"]["label"]["count"] == 3 and cov["by_method"]["none"]["count"] == 2
    assert cov["source_used"] == round(4 / 7, 4)
    # without labels only the IRI matches
    assert align(source_terms=SRC, target_terms=tgt).source.tolist() == [0, -1, -1, -1, -1, -1]


def test_a_source_row_taken_by_iri_is_not_reused_by_label():
    al = align(
        source_terms=["<s:a>", "<s:b>"],
        source_labels=["Alpha", "Beta"],
        target_terms=["<s:a>", "<t:a2>"],
        target_labels=["Alpha", "Alpha"],
    )
    assert al.source.tolist() == [0, -1]


def test_encoder_stage_matches_mutual_nearest_labels_above_the_threshold():
    enc = HashingEncoder(dim=512)
    src_labels = ["directed by", "starred actors", "release year", "genre"]
    tgt_labels = ["film directed by", "actors starred", "unrelated words entirely"]
    kwargs = dict(source_terms=["<s:0>", "<s:1>", "<s:2>", "<s:3>"], source_labels=src_labels,
                  target_terms=["<t:0>", "<t:1>", "<t:2>"], target_labels=tgt_labels)  # fmt: skip
    assert align(**kwargs).mask.sum() == 0  # no label is the same
    al = align(**kwargs, encoder=enc, threshold=0.5)
    assert al.source.tolist() == [0, 1, -1] and al.method.tolist() == [3, 3, 0]
    assert 0.5 <= al.score[0] < 1 and al.score[2] == 0
    # the hashing encoder embeds bags of words: only the reordered label is a perfect match
    assert align(**kwargs, encoder=enc, threshold=0.999).source.tolist() == [-1, 1, -1]


def test_fill_uses_aligned_neighbours_then_features_never_zero():
    rows = np.zeros((6, 2), dtype=np.float32)
    rows[0], rows[1] = [1.0, 2.0], [3.0, 6.0]
    known = np.array([True, True, False, False, False, False])
    # 2 is next to 0 and 1; 3 next to 2 only (filled in round two); 4 and 5 isolated
    edges = np.array([[0, 2], [2, 1], [3, 2], [3, 3]])
    out, how = fill_rows(rows, known, edges=edges)
    np.testing.assert_allclose(out[2], [2.0, 4.0])
    np.testing.assert_allclose(out[3], [2.0, 4.0])
    np.testing.assert_array_equal(out[:2], rows[:2])
    assert how.tolist()[:4] == [0, 0, 1, 1] and how.tolist()[4:] == [3, 3]  # mean + noise
    assert np.all(np.abs(out[4:]).sum(1) > 0) and not np.allclose(out[4], out[5])


def test_fill_least_squares_map_recovers_a_linear_relation():
    rng = np.random.default_rng(0)
    feats = rng.standard_normal((40, 5))
    w = rng.standard_normal((5, 3))
    rows = (feats @ w + 0.5).astype(np.float32)
    known = np.arange(40) < 30
    out, how = fill_rows(np.where(known[:, None], rows, 0), known, features=feats, ridge=1e-8)
    np.testing.assert_allclose(out[30:], rows[30:], atol=1e-3)
    assert set(how[30:].tolist()) == {2}


def test_fill_needs_something_aligned():
    with pytest.raises(ValueError, match="no aligned row"):
        fill_rows(np.zeros((2, 2)), np.array([False, False]))


def test_labels_match_as_written_before_normalised_collisions():
    al = align(
        source_terms=["<s:film>", "<s:tag>", "<s:x>"],
        source_labels=["Heat", "heat", "Up!"],
        target_terms=["<t:1>", "<t:2>", "<t:3>"],
        target_labels=["heat", "HEAT", "up"],
    )
    # "heat" is exact; "HEAT" then normalises to the one "heat" left unused, "up" to "Up!"
    assert al.source.tolist() == [1, 0, 2]
    both = align(source_terms=["<s:film>", "<s:tag>"], source_labels=["Heat", "heat"],
                 target_terms=["<t:2>"], target_labels=["HEAT"])  # fmt: skip
    assert both.source.tolist() == [-1]  # two source rows share the normalised key
