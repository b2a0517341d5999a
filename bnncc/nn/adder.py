"""AdderNet's matrix product y[n, j] = -sum_i |x[n, i] - w[i, j]|, computed in chunks.

The obvious broadcast builds an [N, MW, MH] tensor: at batch 100 that is 400 MB for one
1024x1024 layer and gigabytes for a CNV-sized adder convolution. Here forward and the input
gradient walk the batch in chunks of at most ``CHUNK_ELEMENTS`` broadcast elements, and nothing
bigger than x and w is saved for backward. The filter gradient needs no broadcast at all:
sum_n g[n, j] (x[n, i] - w[i, j]) = (x^T g)[i, j] - w[i, j] * sum_n g[n, j].

Gradients are AdderNet's: the full-precision filter gradient X - F (not sign(X - F)) and the
HardTanh input gradient HT(F - X).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["CHUNK_ELEMENTS", "adder_matmul"]

CHUNK_ELEMENTS = 1 << 22  # 16 MB of float32 per broadcast chunk


def _rows(x: Tensor, w: Tensor) -> int:
    return max(1, CHUNK_ELEMENTS // max(1, w.shape[0] * w.shape[1]))


class _AdderMatMul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, w: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, w)
        out = torch.empty(x.shape[0], w.shape[1], dtype=x.dtype)
        step = _rows(x, w)
        for i in range(0, x.shape[0], step):
            out[i:i + step] = -(x[i:i + step, :, None] - w[None]).abs().sum(dim=1)
        return out

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, w = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[1]:
            grad_w = x.t() @ g - w * g.sum(dim=0)[None]
        if ctx.needs_input_grad[0]:
            grad_x = torch.empty_like(x)
            step = _rows(x, w)
            for i in range(0, x.shape[0], step):
                ht = (w[None] - x[i:i + step, :, None]).clamp_(-1.0, 1.0)  # HT(F - X): [n, MW, MH]
                grad_x[i:i + step] = (ht * g[i:i + step, None, :]).sum(dim=2)
        return grad_x, grad_w


def adder_matmul(x: Tensor, w: Tensor) -> Tensor:
    """-sum_i |x[n, i] - w[i, j]| for x [N, MW] and w [MW, MH] (the dialect's ``bnncc.AdderMatMul``)."""
    if x.dim() != 2 or w.dim() != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"adder_matmul needs x [N, MW] and w [MW, MH], got {list(x.shape)} and {list(w.shape)}")
    return _AdderMatMul.apply(x, w)
