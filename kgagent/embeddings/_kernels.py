"""Hand-written autograd kernels for the distance models' training hot loop.

On small graphs a training step is a few passes over a (B, K, w) tensor of negatives;
autograd's generic backward of ``|q - c|`` makes several more passes than needed (and
negates the big candidate gradient). These functions compute the same values and
gradients with fewer passes, and stay finite where a modulus is 0.
"""

from __future__ import annotations

import torch

__all__ = ["ComplexL1", "L1Distance"]


class L1Distance(torch.autograd.Function):
    """sum_k |q_k - c_k| with a two-pass backward (autograd's takes five), TransE's hot loop."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        d = c - q  # (..., w)
        ctx.save_for_backward(d)
        ctx.shapes = (q.shape, c.shape)
        return torch.linalg.vector_norm(d, ord=1, dim=-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (d,) = ctx.saved_tensors
        gd = torch.sign(d).mul_(grad.unsqueeze(-1))  # (..., w)
        q_shape, c_shape = ctx.shapes
        return _sum_to(gd, q_shape).neg(), _sum_to(gd, c_shape)


class ComplexL1(torch.autograd.Function):
    """sum_k |q_k - c_k| over complex (..., [re | im]) vectors, with a hand-written backward.

    The hot loop of RotatE training: autograd's version of sqrt(re^2 + im^2) makes ~17
    passes over the (B, K, d) tensor; this one makes 7 and is safe at |q_k - c_k| = 0.
    """

    @staticmethod
    def forward(ctx, q: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        d = c - q  # (..., 2d); c - q so the big (candidate) gradient needs no negation
        dr, di = d.chunk(2, dim=-1)
        mod = torch.addcmul(dr * dr, di, di).sqrt_()  # (..., d); 2x faster than hypot
        ctx.save_for_backward(d, mod)
        ctx.shapes = (q.shape, c.shape)
        return mod.sum(dim=-1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        d, mod = ctx.saved_tensors
        w = grad.unsqueeze(-1) / mod.clamp_min(1e-12)  # (..., d)
        gd = (d.view(*d.shape[:-1], 2, -1) * w.unsqueeze(-2)).view(d.shape)  # (..., 2d)
        q_shape, c_shape = ctx.shapes
        return _sum_to(gd, q_shape).neg(), _sum_to(gd, c_shape)


def _sum_to(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Reduces a broadcast gradient back to ``shape``."""
    if x.shape == shape:
        return x
    lead = x.dim() - len(shape)
    dims = tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(shape) if n == 1 and x.shape[i + lead] != 1
    )
    return x.sum(dim=dims, keepdim=True).reshape(shape) if dims else x
