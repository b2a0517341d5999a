"""Low-memory BNN training ("BNN training on the edge", Wang et al. 2021), and its measurement.

Standard STE training keeps float32 tensors for backward: every layer's input, its ±1 weights, the
latent weights, BatchNorm's input and normalized values, the activation's input and max-pool
indices. In low-memory mode a ``BinaryBlock`` (binary linear/conv -> L1 BatchNorm -> bipolar ->
max-pool) runs as one autograd function that saves only

- the bit-packed signs of its input (1 bit per value; the first layer's 8-bit input codes as
  uint8 bytes), and the bit-packed signs of its weights (1 bit per weight),
- its BatchNorm's gamma and beta (parameters, a few KB).

Backward rebuilds everything else from those bits: the accumulator sign(x) . sign(W) is an exact
integer, so recomputing it gives the forward's values bit for bit, and the L1 BatchNorm, the
hardtanh STE and the max-pool routing are replayed on it. The weight gradient is formed from
sign(x) in half precision (bfloat16: float16 GEMMs are ~15x slower than float32 on this CPU, bfloat16
ones are not). The STE mask 1[|W| <= 1] of the binary weights is all ones because the latent weights
are clipped to [-1, 1] after every step (``QuantNet.constrain_``), so it is not stored.

``saved_bytes`` measures what autograd keeps for backward with ``saved_tensors_hooks``, counting
each storage once by its data pointer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bnncc.nn import layers as L
from bnncc.nn import quantizers as Q

__all__ = ["binary_block", "pack_bits", "saved_bytes", "unpack_bits"]

_SHIFTS = torch.tensor([7, 6, 5, 4, 3, 2, 1, 0], dtype=torch.uint8)


def pack_bits(x: Tensor) -> Tensor:
    """uint8 tensor holding the bits [x >= 0], 8 per byte, most significant first."""
    b = (x >= 0).reshape(-1).to(torch.uint8)
    b = F.pad(b, (0, (-b.numel()) % 8)).view(-1, 8)
    return (b << _SHIFTS).sum(dim=1).to(torch.uint8)


def unpack_bits(packed: Tensor, shape: torch.Size | tuple[int, ...], dtype: torch.dtype = torch.float32) -> Tensor:
    """±1 values (bit 1 -> +1) of ``shape`` from ``pack_bits``."""
    n = 1
    for d in shape:
        n *= int(d)
    bits = ((packed[:, None] >> _SHIFTS) & 1).reshape(-1)[:n]
    return (bits.to(dtype) * 2 - 1).view(shape)


def _pack_input(x: Tensor) -> tuple[Tensor, str]:
    """The smallest exact form of a block input: bits for ±1 values, bytes for codes 0..255."""
    if bool((x.abs() == 1).all()):
        return pack_bits(x), "bits"
    if bool((x == torch.round(x)).all()) and float(x.min()) >= 0 and float(x.max()) <= 255:
        return x.to(torch.uint8), "bytes"
    return x, "float"


def _unpack_input(saved: Tensor, kind: str, shape: torch.Size) -> Tensor:
    if kind == "bits":
        return unpack_bits(saved, shape)
    return saved.to(torch.float32).view(shape)


class _Block(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, gamma: Tensor, beta: Tensor, block: nn.Module) -> Tensor:  # type: ignore[override]
        lin, bn = block.linear, block.bn
        conv = isinstance(lin, L.BinaryConv2d)
        wb = torch.where(weight >= 0, 1.0, -1.0)
        acc = F.conv2d(x, wb, padding=lin.padding) if conv else F.linear(x, wb)
        y = L.l1_batch_norm(acc, gamma, beta, bn.running_mean, bn.running_var, bn.momentum, bn.eps)
        out = torch.where(y >= 0, 1.0, -1.0) if block.has_act else y
        if block.pool:
            out = F.max_pool2d(out, block.pool)
        xs, kind = _pack_input(x)
        ctx.save_for_backward(xs, pack_bits(weight), gamma, beta)
        ctx.meta = (kind, x.shape, weight.shape, conv, getattr(lin, "padding", 0), bn.eps, block.has_act, block.pool)
        return out

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        xs, wbits, gamma, beta = ctx.saved_tensors
        kind, x_shape, w_shape, conv, padding, eps, has_act, pool = ctx.meta
        x = _unpack_input(xs, kind, x_shape)
        wb = unpack_bits(wbits, w_shape)
        with torch.no_grad():
            acc0 = F.conv2d(x, wb, padding=padding) if conv else F.linear(x, wb)
        with torch.enable_grad():
            acc = acc0.requires_grad_()
            gam, bet = gamma.detach().requires_grad_(), beta.detach().requires_grad_()
            out = L.l1_batch_norm(acc, gam, bet, None, None, 0.0, eps)
            if has_act:
                out = Q.bipolar(out)
            if pool:
                out = F.max_pool2d(out, pool)
            g_acc, g_gamma, g_beta = torch.autograd.grad(out, [acc, gam, bet], g)
        grad_x = None
        if ctx.needs_input_grad[0]:
            if conv:
                grad_x = torch.nn.grad.conv2d_input(x_shape, wb, g_acc, padding=padding)
            else:
                grad_x = g_acc @ wb
        # Weight gradient from the saved signs, in half precision.
        xh, gh = x.to(torch.bfloat16), g_acc.to(torch.bfloat16)
        if conv:
            grad_w = torch.nn.grad.conv2d_weight(xh, w_shape, gh, padding=padding)
        else:
            grad_w = gh.t() @ xh
        return grad_x, grad_w.to(torch.float32), g_gamma, g_beta, None


def binary_block(block: nn.Module, x: Tensor) -> Tensor:
    """Run a ``BinaryBlock`` in training mode saving only bits (see the module doc)."""
    lin, bn = block.linear, block.bn
    if lin.alpha or not bn.l1:
        raise ValueError("low-memory blocks need alpha=False and an L1 BatchNorm (build the model with "
                         "low_memory=True)")
    return _Block.apply(x, lin.weight, bn.weight, bn.bias, block)


def saved_bytes(step: Callable[[], Tensor]) -> int:
    """Bytes autograd saves for backward while ``step()`` builds a loss, each storage counted once.

    Counted by ``saved_tensors_hooks``: every tensor packed for backward contributes the size of its
    storage, keyed by data pointer (views and repeats of one storage count once). The saved tensors
    stay alive until backward, so no pointer is reused within one forward. Runs backward to free them.
    """
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        st = t.untyped_storage()
        if st.data_ptr():
            seen[st.data_ptr()] = max(seen.get(st.data_ptr(), 0), st.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = step()
    loss.backward()
    return sum(seen.values())
