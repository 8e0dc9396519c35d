"""The mean of the values at the maximising positions, in one fixed summation order.

Every backend (dense on any device, hull on CPU) must produce the same bits
for ``out``.  A masked ``einsum`` does not: its reduction order belongs to
the BLAS kernel (float32 on CPU already differs from a sequential sum from
17 positions on, and CUDA differs again).  So the order is defined here,
once, independently of device and backend:

    pad the T positions to P = 2**ceil(log2 T) (P = 1 when T = 1); a
    position that does not maximise contributes +0.0; add neighbours
    pairwise, level by level (x[0::2] + x[1::2]) until one row is left;
    divide by the number of maximising positions, in the cache dtype.

This is what ``tied_mean`` computes with torch ops (log2 T elementwise
additions: deterministic on every device), and what the hull kernels
compute over the (usually single) maximising position without touching the
others: a lone position comes out as ``v + 0.0`` when T >= 2, ``v`` when
T == 1.  Adding +0.0 only changes -0.0 into +0.0, so the padding is exact.
"""
from __future__ import annotations

import torch


def tied_mean(hit: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Mean (B, H, Dv) of ``values`` (B, H, T, Dv) over the positions where ``hit`` (B, H, T) is true."""
    x = torch.where(hit.unsqueeze(-1), values, torch.zeros((), dtype=values.dtype, device=values.device))
    t = x.shape[-2]
    p = 1 << max(t - 1, 0).bit_length()  # next power of two >= t
    if p != t:
        x = torch.cat([x, x.new_zeros(*x.shape[:-2], p - t, x.shape[-1])], dim=-2)
    while x.shape[-2] > 1:
        x = x[..., 0::2, :] + x[..., 1::2, :]
    return x[..., 0, :] / hit.sum(dim=-1).unsqueeze(-1).to(values.dtype)
