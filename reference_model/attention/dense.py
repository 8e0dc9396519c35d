"""DenseCache: hard-max attention by scanning every cached position (any device).

The reference backend: O(t) per look-up.  Scores are computed as
``q[0]*k[0] + q[1]*k[1]`` in that order, in the cache's dtype, so that a
backend that finds the maximum differently (hull) can be bit-identical.
"""
from __future__ import annotations

import torch

from reference_model.attention.base import KVCache, Lookup
from reference_model.attention.tied_mean import tied_mean


class DenseCache(KVCache):
    """Keys and values in growable buffers; each look-up scans them all."""

    def __init__(self, batch, heads, value_dim, *, dtype, device, capacity: int = 256):
        super().__init__(batch, heads, value_dim, dtype=dtype, device=device)
        self._k = torch.empty(batch, heads, capacity, 2, dtype=dtype, device=self.device)
        self._v = torch.empty(batch, heads, capacity, value_dim, dtype=dtype, device=self.device)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def _grow(self, need: int) -> None:
        cap = self._k.shape[2]
        if need <= cap:
            return
        while cap < need:
            cap *= 2
        k = torch.empty(self.batch, self.heads, cap, 2, dtype=self.dtype, device=self.device)
        v = torch.empty(self.batch, self.heads, cap, self.value_dim, dtype=self.dtype, device=self.device)
        k[:, :, : self._n] = self._k[:, :, : self._n]
        v[:, :, : self._n] = self._v[:, :, : self._n]
        self._k, self._v = k, v

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        self._grow(self._n + 1)
        self._k[:, :, self._n] = keys  # (B, H, 2)
        self._v[:, :, self._n] = values  # (B, H, Dv)
        self._n += 1

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        P = keys.shape[0]
        self._grow(self._n + P)
        self._k[:, :, self._n : self._n + P] = keys.permute(1, 2, 0, 3)  # (B, H, P, 2)
        self._v[:, :, self._n : self._n + P] = values.permute(1, 2, 0, 3)
        self._n += P

    def lookup(self, queries: torch.Tensor) -> Lookup:
        n = self._n
        k = self._k[:, :, :n]  # (B, H, T, 2)
        v = self._v[:, :, :n]  # (B, H, T, Dv)
        scores = queries[..., 0:1] * k[..., 0] + queries[..., 1:2] * k[..., 1]  # (B, H, T)
        best = scores.max(dim=-1).values  # (B, H)
        hit = scores == best.unsqueeze(-1)  # (B, H, T)
        ties = hit.sum(dim=-1)  # (B, H)
        out = tied_mean(hit, v)  # one fixed summation order, shared with the hull backend
        idx = torch.arange(n, device=self.device)
        selected = torch.where(hit, idx, -1).max(dim=-1).values
        below = torch.where(hit, torch.full_like(scores, -torch.inf), scores).max(dim=-1).values
        margin = best - below  # inf when every position ties
        return Lookup(out, selected, ties, margin, best)
