"""Training learns, is reproducible, stops early, saves; loading checks the vocabulary."""

from __future__ import annotations

import json

import pytest
import torch

from kgagent.embeddings import MODELS, Embedding, TrainConfig, train
from kgagent.errors import EmbeddingError, VocabularyError

#: small, fast settings per model on the line graph (20 entities, random MRR ~0.18)
FAST = {
    "transe": {
        "dim": 32,
        "epochs": 100,
        "batch_size": 8,
        "lr": 0.01,
        "loss": "nssa",
        "margin": 2.0,
    },
    "distmult": {"dim": 32, "epochs": 60, "batch_size": 16, "lr": 0.02},
    "complex": {"dim": 32, "epochs": 60, "batch_size": 16, "lr": 0.02},
    "rotate": {"dim": 32, "epochs": 60, "batch_size": 32, "lr": 0.02, "margin": 4.0},
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_learns_the_ring(ring, name):
    res = train(data=ring, model=name, progress=False, eval_every=20, **FAST[name])
    m = res.metrics
    assert m["mrr"] > 0.45, m
    assert m["hits_at_10"] > 0.8
    assert m["evaluated_on"] == "test" and m["test"]["num_triples"] == len(ring.test)
    assert m["epochs"] <= FAST[name]["epochs"] and m["train_seconds"] > 0


def test_training_is_reproducible(ring):
    kw = {"model": "rotate", "progress": False, "dim": 8, "epochs": 5, "sampler": "bernoulli"}
    a = train(data=ring, **kw).model.state_dict()
    b = train(data=ring, **kw).model.state_dict()
    for key in a:
        assert torch.equal(a[key], b[key])
    c = train(data=ring, seed=1, **kw).model.state_dict()
    assert not torch.equal(a["entity"], c["entity"])


def test_other_losses_and_optimizers_run(ring):
    for kw in (
        {"model": "distmult", "mode": "slcwa", "loss": "softplus", "optimizer": "adagrad"},
        {"model": "transe", "loss": "nssa", "sampler": "bernoulli", "lr": 0.05},
        {"model": "complex", "mode": "kvsall", "label_smoothing": 0.0, "regularization": 0.0},
    ):
        res = train(data=ring, progress=False, dim=8, epochs=3, **kw)
        assert res.metrics["final_loss"] == res.metrics["final_loss"]  # not NaN


def test_early_stopping_stops_and_keeps_the_best(ring):
    res = train(
        data=ring,
        model="distmult",
        progress=False,
        dim=8,
        epochs=200,
        eval_every=1,
        patience=2,
        lr=0.5,
    )
    m = res.metrics
    assert m["epochs"] < 200
    best = max(mrr for _, mrr in m["valid_mrr_history"])
    assert m["valid"]["mrr"] == pytest.approx(best)
    assert m["best_epoch"] == max(m["valid_mrr_history"], key=lambda x: x[1])[0]


def test_bad_options_are_rejected(ring):
    with pytest.raises(EmbeddingError, match="loss='margin'"):
        train(data=ring, model="distmult", mode="kvsall", loss="margin", progress=False)
    with pytest.raises(EmbeddingError, match="mode='1-n'"):
        train(data=ring, model="distmult", mode="1-n", progress=False)
    with pytest.raises(EmbeddingError, match="epochs=0"):
        train(data=ring, model="transe", epochs=0, progress=False)
    assert TrainConfig(model="complex").resolved().mode == "kvsall"


def test_saved_artifact_round_trip_and_vocabulary_check(ring, tmp_path):
    out = tmp_path / "emb"
    res = train(data=ring, model="complex", out=out, progress=False, dim=8, epochs=2)
    assert res.out == out
    for f in (
        "config.json",
        "weights.safetensors",
        "entities.txt",
        "relations.txt",
        "metrics.json",
    ):
        assert (out / f).is_file(), f
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"mrr", "hits_at_1", "hits_at_3", "hits_at_10", "train_seconds", "epochs"} <= set(
        metrics
    )
    emb = Embedding.load(out, entities=ring.entities, relations=ring.relations)
    assert torch.equal(emb.model.entity, res.model.entity)
    assert emb.entity_id("e3") == ring.entities.index("e3")
    wrong = list(ring.entities)
    wrong[2], wrong[3] = wrong[3], wrong[2]
    with pytest.raises(VocabularyError, match=r"entities id 2 is 'e10' in the embedding"):
        Embedding.load(out, entities=wrong)
    with pytest.raises(VocabularyError, match="the embedding has 3 relations, the graph 4"):
        Embedding.load(out, relations=[*ring.relations, "extra"])
    (out / "entities.txt").write_text("x\n" * ring.num_entities)
    with pytest.raises(EmbeddingError, match=r"does not match config\.json digest"):
        Embedding.load(out, entities=ring.entities)
