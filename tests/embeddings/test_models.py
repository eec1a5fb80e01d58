"""The model contract, run against every registered model (as pykeen's tests/cases.py)."""

from __future__ import annotations

import json

import pytest
import torch

from kgagent.embeddings import MODELS, KGEModel, get_model, get_model_class
from kgagent.embeddings._kernels import ComplexL1, L1Distance
from kgagent.errors import EmbeddingError

E, R = 9, 4


VARIANTS = [(name, {}) for name in sorted(MODELS)] + [("rotate", {"p": 1}), ("transe", {"p": 2})]


@pytest.fixture(params=VARIANTS, ids=[f"{n}{kw.get('p', '')}" for n, kw in VARIANTS])
def model(request) -> KGEModel:
    name, kwargs = request.param
    return get_model(
        name,
        num_entities=E,
        num_relations=R,
        dim=6,
        generator=torch.Generator().manual_seed(3),
        **kwargs,
    )


def _batch():
    h = torch.tensor([0, 1, 2, 8, 4])
    r = torch.tensor([0, 1, 2, 3, 0])
    t = torch.tensor([3, 4, 5, 8, 0])
    return h, r, t


def test_score_all_tails_and_heads_agree_with_score_hrt(model):
    h, r, t = _batch()
    every = torch.arange(E)
    ref_t = torch.stack([model.score_hrt(h, r, every[e].expand_as(h)) for e in range(E)], 1)
    ref_h = torch.stack([model.score_hrt(every[e].expand_as(t), r, t) for e in range(E)], 1)
    assert model.score_t(h, r).shape == (len(h), E)
    torch.testing.assert_close(model.score_t(h, r), ref_t, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model.score_h(r, t), ref_h, atol=1e-5, rtol=1e-5)
    cand = torch.tensor([[1, 2], [3, 3], [0, 8], [5, 6], [7, 1]])
    torch.testing.assert_close(
        model.score_t(h, r, cand), ref_t.gather(1, cand), atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(
        model.score_h(r, t, cand), ref_h.gather(1, cand), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("k", [2, 16])  # 16 > E: the score-everything path
def test_score_negatives_scores_the_corrupted_triples(model, k):
    h, r, t = _batch()
    g = torch.Generator().manual_seed(0)
    neg = torch.randint(E, (len(h), k), generator=g)
    corrupt_head = torch.tensor([True, False, True, False, False])
    pos, negs, _ = model.score_negatives(h, r, t, neg, corrupt_head)
    torch.testing.assert_close(pos, model.score_hrt(h, r, t), atol=1e-5, rtol=1e-5)
    for i in range(len(h)):
        hh = neg[i] if corrupt_head[i] else h[i].expand(k)
        tt = t[i].expand(k) if corrupt_head[i] else neg[i]
        ref = model.score_hrt(hh, r[i].expand(k), tt)
        torch.testing.assert_close(negs[i], ref, atol=1e-5, rtol=1e-5)


def test_gradients_flow_to_both_tables(model):
    h, r, t = _batch()
    neg = torch.randint(E, (len(h), 3))
    pos, negs, _ = model.score_negatives(h, r, t, neg, torch.zeros(len(h), dtype=torch.bool))
    (negs.sum() - pos.sum()).backward()
    assert model.entity.grad is not None and model.entity.grad.abs().sum() > 0
    assert model.relation.grad is not None and model.relation.grad.abs().sum() > 0


def test_save_load_round_trip_is_exact(model, tmp_path):
    model.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model"] == model.name and cfg["dim"] == 6
    again = KGEModel.load(tmp_path / "m")
    assert type(again) is type(model)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    h, r, _ = _batch()
    assert torch.equal(model.score_t(h, r), again.score_t(h, r))


def test_hyperparameters_survive_save_load(tmp_path):
    m = get_model("transe", num_entities=3, num_relations=2, dim=4, p=2)
    m.save(tmp_path)
    assert KGEModel.load(tmp_path).p == 2
    with pytest.raises(EmbeddingError, match="holds a 'transe' model"):
        get_model_class("rotate").load(tmp_path)


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(EmbeddingError, match=r"config\.json: missing"):
        KGEModel.load(tmp_path)
    m = get_model("distmult", num_entities=3, num_relations=2, dim=4)
    m.save(tmp_path)
    (tmp_path / "weights.safetensors").unlink()
    with pytest.raises(EmbeddingError, match=r"weights.safetensors: missing"):
        KGEModel.load(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    m2 = get_model("distmult", num_entities=4, num_relations=2, dim=4)
    m2.save(tmp_path / "other")
    (tmp_path / "other" / "weights.safetensors").rename(tmp_path / "weights.safetensors")
    with pytest.raises(EmbeddingError, match=r"weights\.safetensors: 272 bytes, config\.json says"):
        KGEModel.load(tmp_path)  # the manifest's inventory catches the swap first
    cfg.pop("inventory")  # a model saved before inventories: the shapes still catch it
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(EmbeddingError, match=r"does not match config\.json"):
        KGEModel.load(tmp_path)


def test_unknown_model_and_bad_sizes():
    with pytest.raises(EmbeddingError, match="expected one of"):
        get_model("transx", num_entities=3, num_relations=1, dim=2)
    with pytest.raises(EmbeddingError, match="must be positive"):
        get_model("transe", num_entities=0, num_relations=1, dim=2)


@pytest.mark.parametrize(
    ("kernel", "reference"),
    [
        (L1Distance, lambda q, c: (q - c).abs().sum(-1)),
        (
            ComplexL1,
            lambda q, c: torch.sqrt(((q - c).view(*(q - c).shape[:-1], 2, -1) ** 2).sum(-2)).sum(
                -1
            ),
        ),
    ],
)
@pytest.mark.parametrize(
    ("q_shape", "c_shape"), [((4, 1, 6), (4, 5, 6)), ((4, 6), (4, 6)), ((4, 1, 6), (1, 7, 6))]
)
def test_kernels_match_autograd(kernel, reference, q_shape, c_shape):
    g = torch.Generator().manual_seed(1)
    q = torch.randn(q_shape, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(c_shape, generator=g, dtype=torch.float64, requires_grad=True)
    out = kernel.apply(q, c)
    weights = torch.randn(out.shape, generator=g, dtype=torch.float64)  # signed upstream grads
    (out * weights).sum().backward()
    got = (q.grad.clone(), c.grad.clone())
    q.grad = c.grad = None
    ref = reference(q, c)
    (ref * weights).sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(got[0], q.grad)
    torch.testing.assert_close(got[1], c.grad)


def test_complex_l1_is_finite_at_zero_distance():
    q = torch.zeros(2, 4, requires_grad=True)
    c = torch.zeros(2, 4, requires_grad=True)
    ComplexL1.apply(q, c).sum().backward()
    assert torch.isfinite(q.grad).all() and torch.isfinite(c.grad).all()
