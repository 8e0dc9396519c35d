"""Stage 4: layout -> weight blocks (float64 on the CPU; the model casts)."""
from __future__ import annotations

import torch

from reference_model.compiler.blocks import AttentionBlock, EmbeddingBlock, FeedForwardBlock, ModelWeights, ReadoutBlock
from reference_model.compiler.nodes import Layout

DT = torch.float64


def _affine(e, dims, w, b, col) -> None:
    """Write Expr e into column `col` of weight matrix w (D, ...) and bias b."""
    for v, c in e.terms.items():
        w[(dims[v], *col)] += c
    b[col] += e.const


def layout_to_weights(layout: Layout) -> ModelWeights:
    s, dims, D = layout.schedule, layout.dims, layout.d_model
    g = s.graph
    V = g.vocab_size
    tok = torch.zeros(V, D, dtype=DT)
    for t, table in g.embedding.items():
        for v, x in table.items():
            tok[t, dims[v]] = x
    pos = torch.zeros(3, D, dtype=DT)
    for i, v in enumerate(g.position_vars):
        if v:
            pos[i, dims[v]] = 1.0
    attention, feedforward = [], []
    for layer in range(s.n_layers):
        heads = s.lookups[layer]
        if heads:
            H, Dv = len(heads), layout.value_dims[layer]
            wq, bq = torch.zeros(D, H, 2, dtype=DT), torch.zeros(H, 2, dtype=DT)
            wk, bk = torch.zeros(D, H, 2, dtype=DT), torch.zeros(H, 2, dtype=DT)
            wv, bv = torch.zeros(D, H, Dv, dtype=DT), torch.zeros(H, Dv, dtype=DT)
            wo = torch.zeros(H, Dv, D, dtype=DT)
            for h, n in enumerate(heads):
                for c in range(2):
                    _affine(n.query[c], dims, wq, bq, (h, c))
                    _affine(n.key[c], dims, wk, bk, (h, c))
                for i, (e, out) in enumerate(zip(n.values, n.outputs)):
                    _affine(e, dims, wv, bv, (h, i))
                    wo[h, i, dims[out]] += 1.0
            attention.append(AttentionBlock(wq, bq, wk, bk, wv, bv, wo))
        else:
            attention.append(None)
        units = [u for grp in s.groups[layer] for u in grp.units]
        if units:
            F = len(units)
            w1, b1 = torch.zeros(D, F, dtype=DT), torch.zeros(F, dtype=DT)
            wg, bg = torch.zeros(D, F, dtype=DT), torch.zeros(F, dtype=DT)
            w2 = torch.zeros(F, D, dtype=DT)
            for f, u in enumerate(units):
                _affine(u.pre, dims, w1, b1, (f,))
                if u.gate is None:
                    bg[f] = 1.0
                else:
                    _affine(u.gate, dims, wg, bg, (f,))
                for v, c in u.out.items():
                    w2[f, dims[v]] += c
            feedforward.append(FeedForwardBlock(w1, b1, wg, bg, w2))
        else:
            feedforward.append(None)
    w_out, b_out = torch.zeros(D, V, dtype=DT), torch.zeros(V, dtype=DT)
    for t, e in g.readout.items():
        _affine(e, dims, w_out, b_out, (t,))
    return ModelWeights(EmbeddingBlock(tok, pos), attention, feedforward, ReadoutBlock(w_out, b_out), g.pad_token, dict(dims))
