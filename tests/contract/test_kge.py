"""The KGE contract, run against every registered model (as pykeen's tests/cases.py).

Score shapes for the three ways the trainer and evaluator score, an exact save/load round
trip through the registry, and a few optimizer steps that lower a loss.
tests/embeddings/test_models.py checks each score against ``score_hrt`` in detail.
"""

from __future__ import annotations

import json

import pytest

from kgagent.embeddings import MODELS, KGEModel
from tests.contract.cases import DIM, E, R

torch = pytest.importorskip("torch")


def _batch():
    h = torch.tensor([0, 1, 2, 8, 4])
    r = torch.tensor([0, 1, 2, 3, 0])
    t = torch.tensor([3, 4, 5, 8, 0])
    return h, r, t


def test_registered_under_its_own_name(kge_model, kge_case):
    assert type(kge_model) is MODELS.get(kge_case.name)
    assert kge_model.name == kge_case.name  # what config.json records and load looks up
    assert isinstance(kge_model, KGEModel)


def test_score_shapes(kge_model):
    h, r, t = _batch()
    assert kge_model.score_hrt(h, r, t).shape == (5,)
    assert kge_model.score_t(h, r).shape == (5, E)
    assert kge_model.score_h(r, t).shape == (5, E)
    cand = torch.tensor([[1, 2], [3, 3], [0, 8], [5, 6], [7, 1]])
    assert kge_model.score_t(h, r, cand).shape == (5, 2)
    neg = torch.randint(E, (5, 3), generator=torch.Generator().manual_seed(0))
    pos, negs, emb = kge_model.score_negatives(h, r, t, neg, torch.zeros(5, dtype=torch.bool))
    assert pos.shape == (5,) and negs.shape == (5, 3) and len(emb) == 3
    assert torch.isfinite(kge_model.score_t(h, r)).all()


def test_save_load_round_trip_equals(kge_model, tmp_path):
    kge_model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model"] == kge_model.name
    assert (cfg["num_entities"], cfg["num_relations"], cfg["dim"]) == (E, R, DIM)
    again = KGEModel.load(tmp_path / "m")
    assert type(again) is type(kge_model)
    for key, value in kge_model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    h, r, _ = _batch()
    assert torch.equal(kge_model.score_t(h, r), again.score_t(h, r))


def test_training_steps_lower_the_loss(kge_model):
    """Positives up, corruptions down: a few Adam steps on a logistic loss (sLCWA)."""
    h, r, t = _batch()
    neg = torch.randint(E, (5, 4), generator=torch.Generator().manual_seed(1))
    corrupt_head = torch.tensor([True, False, True, False, True])
    opt = torch.optim.Adam(kge_model.parameters(), lr=0.05)

    def loss_now() -> torch.Tensor:
        pos, negs, _ = kge_model.score_negatives(h, r, t, neg, corrupt_head)
        return torch.nn.functional.softplus(-pos).mean() + torch.nn.functional.softplus(negs).mean()

    first = loss_now().item()
    for _ in range(10):
        opt.zero_grad()
        loss = loss_now()
        loss.backward()
        opt.step()
        kge_model.post_step()
    with torch.no_grad():
        assert loss_now().item() < first
