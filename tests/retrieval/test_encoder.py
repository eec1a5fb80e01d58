"""Encoders: the hashing encoder, dedup + scatter-back, the registry; one real-model test."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from kgagent.errors import EncoderError, KGAgentError
from kgagent.retrieval import encoder as encoder_mod
from kgagent.retrieval.encoder import (
    DEFAULT_MODEL,
    ENCODERS,
    HashingEncoder,
    SentenceTransformerEncoder,
    dedup,
    get_encoder,
)

SENTENCES = [
    "Inception was directed by Christopher Nolan",
    "Who directed Inception?",
    "Titanic was released in 1997",
    "The release year of Titanic is 1997",
]


# -- hashing ------------------------------------------------------------------------------


def test_hashing_shape_dtype_and_unit_rows():
    enc = HashingEncoder(dim=64)
    out = enc.encode(SENTENCES)
    assert out.shape == (4, 64)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert enc.name == "hashing-64"
    assert enc.encode([]).shape == (0, 64)


def test_hashing_empty_text_is_a_zero_row():
    out = HashingEncoder(dim=32).encode(["", "?!", "word"])
    assert not out[0].any() and not out[1].any()
    assert np.linalg.norm(out[2]) == pytest.approx(1.0, rel=1e-5)


def test_hashing_is_deterministic_across_instances_and_processes():
    a = HashingEncoder(dim=128).encode(SENTENCES)
    b = HashingEncoder(dim=128).encode(list(reversed(SENTENCES)))[::-1]
    np.testing.assert_array_equal(a, b)
    # another interpreter with another hash() salt must give the very same vectors
    code = (
        "import sys, numpy as np; from kgagent.retrieval.encoder import HashingEncoder;"
        "np.save(sys.stdout.buffer, HashingEncoder(dim=128).encode(sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    res = subprocess.run(
        [sys.executable, "-c", code, *SENTENCES], capture_output=True, check=True, env=env
    )
    import io

    np.testing.assert_array_equal(np.load(io.BytesIO(res.stdout)), a)


def test_hashing_similarity_follows_shared_words():
    out = HashingEncoder(dim=256).encode(SENTENCES)
    sim = out @ out.T  # (4, 4)
    assert sim[0, 1] > 0.5  # "directed", "Inception"
    assert sim[0, 1] > sim[0, 2] + 0.2
    assert sim[2, 3] > sim[2, 1] + 0.2  # "Titanic", "1997"
    # a misspelling still shares most character 3-grams
    a, b = HashingEncoder().encode(["Christopher Nolan", "Cristopher Nolan"])
    assert float(a @ b) > 0.7


def test_hashing_seed_changes_the_space_and_the_name():
    a = HashingEncoder(dim=64, seed=0)
    b = HashingEncoder(dim=64, seed=7)
    assert a.name != b.name
    assert not np.allclose(a.encode(SENTENCES[:1]), b.encode(SENTENCES[:1]))


@pytest.mark.parametrize("kwargs", [{"dim": 0}, {"dim": -3}, {"dim": 2.5}, {"seed": "x"}])
def test_hashing_bad_arguments(kwargs):
    with pytest.raises(EncoderError):
        HashingEncoder(**kwargs)


def test_encode_rejects_a_bare_string_and_non_strings():
    enc = HashingEncoder()
    with pytest.raises(TypeError, match="sequence of strings"):
        enc.encode("one sentence")
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        enc.encode(["ok", 3])


# -- dedup and scatter-back ---------------------------------------------------------------


def test_dedup_keeps_first_seen_order():
    unique, inverse = dedup(["b", "a", "b", "c", "a"])
    assert unique == ["b", "a", "c"]
    assert inverse.tolist() == [0, 1, 0, 2, 1]
    assert [unique[i] for i in inverse] == ["b", "a", "b", "c", "a"]


class SpyModel:
    """Stands in for a SentenceTransformer: records every text, returns unnormalized rows."""

    def __init__(self, dim: int = 32) -> None:
        self.seen: list[str] = []
        self.calls: list[list[str]] = []
        self.batch_sizes: list[int] = []
        self._hash = HashingEncoder(dim=dim)
        self.dim = dim

    def get_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts, *, batch_size, show_progress_bar, convert_to_numpy):
        assert convert_to_numpy and not show_progress_bar
        self.calls.append(list(texts))
        self.batch_sizes.append(batch_size)
        self.seen.extend(texts)
        return 3.0 * self._hash.encode(texts)  # (n, dim), norm 3: the wrapper must normalize


def test_each_distinct_text_is_encoded_once_and_scattered_back():
    spy = SpyModel()
    enc = SentenceTransformerEncoder.from_model(spy, name="spy")
    texts = ["b", "a longer text", "b", "c", "a longer text", "b", ""]
    out = enc.encode(texts, batch_size=7)
    assert sorted(spy.seen) == sorted(set(texts))  # each distinct text exactly once
    assert spy.batch_sizes == [7]
    expected = HashingEncoder(dim=32).encode(texts)
    np.testing.assert_allclose(out, expected, atol=1e-6)  # right row for every input
    np.testing.assert_array_equal(out[0], out[2])
    np.testing.assert_allclose(np.linalg.norm(out[:6], axis=1), 1.0, rtol=1e-5)
    assert enc.dim == 32


def test_texts_go_longest_first_across_chunks(monkeypatch):
    monkeypatch.setattr(encoder_mod, "_CHUNK", 3)
    spy = SpyModel()
    enc = SentenceTransformerEncoder.from_model(spy, name="spy")
    texts = [f"text {'x' * n}" for n in (3, 9, 1, 7, 5, 2, 8)] + ["text xxx"]
    out = enc.encode(texts)
    assert [len(c) for c in spy.calls] == [3, 3, 1]
    lengths = [len(t) for t in spy.seen]
    assert lengths == sorted(lengths, reverse=True)
    np.testing.assert_allclose(out, HashingEncoder(dim=32).encode(texts), atol=1e-6)


def test_empty_input_does_not_call_the_model():
    spy = SpyModel(dim=8)
    out = SentenceTransformerEncoder.from_model(spy, name="spy").encode([])
    assert out.shape == (0, 8) and out.dtype == np.float32
    assert spy.calls == []


def test_encode_is_safe_from_threads():
    from concurrent.futures import ThreadPoolExecutor

    enc = SentenceTransformerEncoder.from_model(SpyModel(), name="spy")
    batches = [[f"fact {i} {j}" for j in range(20)] for i in range(16)]
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(enc.encode, batches))
    for texts, out in zip(batches, outs, strict=True):
        np.testing.assert_allclose(out, HashingEncoder(dim=32).encode(texts), atol=1e-6)


# -- registry -----------------------------------------------------------------------------


def test_registry_names():
    from kgagent import retrieval

    assert ENCODERS is retrieval.ENCODERS  # declared in the package, re-exported here
    assert ENCODERS["minilm"] is SentenceTransformerEncoder
    assert ENCODERS["sentence-transformers"] is SentenceTransformerEncoder
    assert ENCODERS["hashing"] is HashingEncoder


def test_get_encoder_by_name_and_instance():
    enc = get_encoder("hashing", dim=48)
    assert isinstance(enc, HashingEncoder) and enc.dim == 48
    assert get_encoder(enc) is enc


def test_get_encoder_default_resolves_offline_without_loading():
    enc = get_encoder("minilm")
    assert enc.name == DEFAULT_MODEL
    assert (enc.path / "config.json").is_file()
    assert enc._model is None  # loaded on first encode, not before


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("nope",), {}, r"unknown encoder 'nope'; registered: hashing, minilm"),
        (("hashing",), {"size": 3}, r"encoder 'hashing': bad arguments .*size"),
        (("minilm",), {"model": "x"}, "sentence-transformers"),
        ((HashingEncoder(),), {"dim": 3}, "only to an encoder given by name"),
        ((object(),), {}, "object is not an encoder"),
    ],
)
def test_get_encoder_errors(args, kwargs, match):
    with pytest.raises(EncoderError, match=match):
        get_encoder(*args, **kwargs)


def test_unknown_hub_id_fails_clearly_without_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderError, match="never downloads models") as info:
        get_encoder("sentence-transformers", model="kgagent-tests/no-such-model-xyz")
    assert isinstance(info.value, KGAgentError)
    assert "kgagent-tests/no-such-model-xyz" in str(info.value)


def test_bad_local_model_paths(tmp_path):
    with pytest.raises(EncoderError, match="no such encoder model directory"):
        SentenceTransformerEncoder(tmp_path / "missing" / "model")
    (tmp_path / "file.bin").write_bytes(b"x")
    with pytest.raises(EncoderError, match="must be a directory"):
        SentenceTransformerEncoder(tmp_path / "file.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="not a sentence-transformers model directory"):
        SentenceTransformerEncoder(tmp_path / "empty")


def test_encoder_option_errors():
    with pytest.raises(EncoderError, match="precision"):
        SentenceTransformerEncoder(precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(EncoderError, match="CPU only"):
        SentenceTransformerEncoder(quantize=True, device="cuda")
    assert SentenceTransformerEncoder(quantize=True).name == DEFAULT_MODEL + "+int8"


# -- the real model -----------------------------------------------------------------------


@pytest.mark.slow
def test_minilm_ranks_the_answer_fact_first():
    enc = get_encoder("minilm")
    out = enc.encode(
        [
            "Who directed Inception?",
            "Inception was directed by Christopher Nolan",
            "Titanic was released in 1997",
        ]
    )
    assert enc.dim == 384
    assert out.shape == (3, 384) and out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert float(out[0] @ out[1]) > float(out[0] @ out[2]) + 0.2
