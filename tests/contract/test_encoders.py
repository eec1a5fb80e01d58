"""The encoder contract, run against every case of every registered encoder.

What the index, linker and retriever rely on: ``(n, dim)`` float32 rows of unit length,
a stable ``name`` (index manifests record it), and the same vector for the same text
whatever the batch, order or instance. MiniLM cases are marked ``slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

from kgagent.retrieval import ENCODERS

TEXTS = [
    "Who directed Inception?",
    "Inception was directed by Christopher Nolan",
    "Titanic was released in 1997",
    "The release year of Titanic is 1997",
]


def test_is_the_registered_class(encoder, encoder_case):
    assert isinstance(encoder, ENCODERS.get(encoder_case.name))


def test_name_and_dim(encoder):
    assert isinstance(encoder.name, str) and encoder.name
    assert isinstance(encoder.dim, int) and encoder.dim > 0


def test_encode_shape_dtype_and_unit_rows(encoder):
    out = encoder.encode(TEXTS)
    assert out.shape == (len(TEXTS), encoder.dim)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-4)


def test_empty_input_gives_zero_rows(encoder):
    out = encoder.encode([])
    assert out.shape == (0, encoder.dim) and out.dtype == np.float32


def test_one_string_is_refused(encoder):
    with pytest.raises(TypeError):
        encoder.encode("Who directed Inception?")


def test_deterministic_across_calls_order_and_duplicates(encoder):
    a = encoder.encode(TEXTS)
    np.testing.assert_allclose(encoder.encode(TEXTS), a, atol=1e-6)
    np.testing.assert_allclose(encoder.encode(TEXTS[::-1])[::-1], a, atol=1e-6)
    doubled = encoder.encode([*TEXTS, TEXTS[1], TEXTS[0]])
    np.testing.assert_allclose(doubled[-2:], a[[1, 0]], atol=1e-6)
    np.testing.assert_allclose(encoder.encode(TEXTS[2:3]), a[2:3], atol=1e-6)


def test_a_second_instance_has_the_same_name_and_vectors(encoder, encoder_case, request):
    again = encoder_case.make(request)
    assert again.name == encoder.name and again.dim == encoder.dim
    np.testing.assert_allclose(again.encode(TEXTS), encoder.encode(TEXTS), atol=1e-6)


def test_related_texts_are_closer(encoder):
    q, fact, other, _ = encoder.encode(TEXTS)
    assert float(q @ fact) > float(q @ other)
