"""The KV-cache interface that every attention backend implements.

Hard-max attention with head dimension 2: for a query q and cached keys
k_0..k_{t-1}, the score of position j is ``q[0]*k_j[0] + q[1]*k_j[1]``
(computed in exactly that order, in the cache's dtype); the output is the
*mean* of the values of all positions whose score equals the maximum
exactly (ties averaged).  Backends differ only in how they find those
positions (dense: scan all; hull: convex-hull query in O(log t)); for the
same inputs they must return bit-identical outputs.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple

import torch


class Lookup(NamedTuple):
    """What a look-up returns, per batch row and head."""

    out: torch.Tensor  # (B, H, Dv) mean value of the maximising positions
    selected: torch.Tensor  # (B, H) int64: the maximising position (the latest one if tied)
    ties: torch.Tensor  # (B, H) int64: how many positions share the maximum
    margin: torch.Tensor  # (B, H) best score minus the best score strictly below it (inf if none)
    best: torch.Tensor  # (B, H) the best score (with margin: how near a tie was, relative to the scores)


class KVCache(ABC):
    """Keys (B, H, T, 2) and values (B, H, T, Dv) for one attention layer."""

    def __init__(self, batch: int, heads: int, value_dim: int, *, dtype: torch.dtype, device: torch.device | str):
        self.batch, self.heads, self.value_dim = batch, heads, value_dim
        self.dtype, self.device = dtype, torch.device(device)

    @abstractmethod
    def append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Add one position: keys (B, H, 2), values (B, H, Dv)."""

    def extend(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Add P positions at once (a prompt): keys (P, B, H, 2), values (P, B, H, Dv)."""
        for k, v in zip(keys, values):
            self.append(k, v)

    @abstractmethod
    def lookup(self, queries: torch.Tensor) -> Lookup:
        """Hard-max attention of queries (B, H, 2) over every cached position."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of cached positions."""
