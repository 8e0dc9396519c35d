"""Typed weight blocks; each constructor asserts that its dimensions fit."""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class EmbeddingBlock:
    tok: torch.Tensor  # (V, D)
    pos: torch.Tensor  # (3, D): features (1, t, t^2)

    def __post_init__(self):
        assert self.tok.dim() == 2 and self.pos.shape == (3, self.tok.shape[1]), (self.tok.shape, self.pos.shape)


@dataclass
class AttentionBlock:
    """H hard-max heads: query/key dimension 2, value dimension Dv."""

    w_q: torch.Tensor  # (D, H, 2)
    b_q: torch.Tensor  # (H, 2)
    w_k: torch.Tensor  # (D, H, 2)
    b_k: torch.Tensor  # (H, 2)
    w_v: torch.Tensor  # (D, H, Dv)
    b_v: torch.Tensor  # (H, Dv)
    w_o: torch.Tensor  # (H, Dv, D)

    def __post_init__(self):
        D, H, two = self.w_q.shape
        Dv = self.w_v.shape[2]
        assert two == 2 and self.w_k.shape == (D, H, 2) and self.b_q.shape == (H, 2) and self.b_k.shape == (H, 2)
        assert self.w_v.shape == (D, H, Dv) and self.b_v.shape == (H, Dv) and self.w_o.shape == (H, Dv, D)

    @property
    def heads(self) -> int:
        return self.w_q.shape[1]


@dataclass
class FeedForwardBlock:
    """F units: h = ReLU(x W1 + b1) * (x Wg + bg); out = h W2."""

    w1: torch.Tensor  # (D, F)
    b1: torch.Tensor  # (F,)
    wg: torch.Tensor  # (D, F)
    bg: torch.Tensor  # (F,)
    w2: torch.Tensor  # (F, D)

    def __post_init__(self):
        D, F = self.w1.shape
        assert self.b1.shape == (F,) and self.wg.shape == (D, F) and self.bg.shape == (F,) and self.w2.shape == (F, D)


@dataclass
class ReadoutBlock:
    w: torch.Tensor  # (D, V)
    b: torch.Tensor  # (V,)

    def __post_init__(self):
        assert self.w.dim() == 2 and self.b.shape == (self.w.shape[1],)


@dataclass
class ModelWeights:
    """Everything the generic Transformer needs."""

    embedding: EmbeddingBlock
    attention: list  # per layer: AttentionBlock | None
    feedforward: list  # per layer: FeedForwardBlock | None
    readout: ReadoutBlock
    pad_token: int
    variables: dict  # variable -> residual dimension (for inspection)
