"""A generic decoder-only transformer with 2-d hard-max attention heads.

Nothing here knows about WebAssembly: the weights (from
``reference_model.compiler``) decide what the model computes.  The file
reads top to bottom: config, attention layer, feed-forward layer, model,
decoding.  Shapes are in comments: B batch, T positions, H heads, Dv value
dimension, D d_model, F feed-forward width, V vocabulary.

* Embedding: ``tok_emb[token] + [1, t, t*t] @ pos_emb`` (polynomial position
  features; t is the row's own position, so left-padded rows keep their
  positions).
* Attention: per head a query and a key of dimension 2 and a value of
  dimension Dv; hard-max over all cached positions (ties averaged), served
  by a KV-cache backend (``attention.dense.DenseCache`` or a hull cache).
* Feed-forward: ``h = ReLU(x W1 + b1) * (x Wg + bg)``; a plain ReLU unit has
  a zero gate row and gate bias 1.
* Readout: ``logits = x W_out + b_out``, argmax decoding.

Weight format: every ``x @ W`` goes through ``matmul``, which multiplies by
the stored matrix (``"dense"``, BLAS) or by a CSR copy of it (``"sparse"``,
the default: compiled weights are over 99% zeros, and a token's decode
step then reads ~75k weights instead of 12.6M; matrices under SPARSE_MIN
elements stay dense).  In float64 the compiled model's sums are exact, so
both formats give the same bits; in float32 the summation order can
differ, which is why the format is part of a run's config and recorded
with its results.
"""
from __future__ import annotations

import importlib
import warnings
import weakref
from dataclasses import asdict, dataclass
from typing import Callable, Iterable, NamedTuple

import numpy as np
import torch
from torch import nn

from reference_model.attention.tied_mean import tied_mean

WEIGHT_FORMATS = ("sparse", "dense")
ENGINES = ("torch", "native")
GROUPS_PER_THREAD = 4  # native engine: batch rows are decoded in this many groups per thread
OUT_UPFRONT_BYTES = 2**30  # native engine: the per-step outputs of a known budget are reserved at once up to this
SINK_SPAN = 2**16  # native engine with an attention sink: tokens decoded between two hand-overs (bounds the buffers)
SPARSE_MIN = 16384
BACKENDS = {"dense": "reference_model.attention.dense:DenseCache", "hull": "reference_model.attention.hull:HullCache"}


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int
    d_model: int
    n_heads: tuple  # per layer; 0 = the layer has no attention
    value_dim: tuple  # per layer
    d_ff: tuple  # per layer; 0 = the layer has no feed-forward
    pad_token: int = 0

    @property
    def n_layers(self) -> int:
        return len(self.n_heads)

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "TransformerConfig":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def cache_class(backend: str):
    """The KVCache class of a backend name ("dense" | "hull")."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown attention backend {backend!r}; known: {', '.join(BACKENDS)}")
    module, name = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), name)


_CSR: dict = {}  # id(weight) -> (weakref to it, its _version, CSR copy of its transpose)


def _csr(w: torch.Tensor) -> torch.Tensor:
    """CSR copy of ``w.T``, made once per weight tensor and made again if ``w`` is changed in place."""
    hit = _CSR.get(id(w))
    if hit is None or hit[0]() is not w or hit[1] != w._version:
        for key in [k for k, (ref, _, _) in _CSR.items() if ref() is None]:
            del _CSR[key]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            hit = (weakref.ref(w), w._version, w.t().contiguous().to_sparse_csr())
        _CSR[id(w)] = hit
    return hit[2]


def matmul(x: torch.Tensor, w: torch.Tensor, fmt: str = "sparse") -> torch.Tensor:
    """``x @ w`` for x (..., D) and w (D, F), with w in weight format ``fmt`` ("sparse" | "dense").

    Matrices under SPARSE_MIN elements stay dense in either format: a sparse
    call costs more than multiplying them.
    """
    if fmt == "dense" or w.numel() < SPARSE_MIN:
        return x @ w
    flat = x.reshape(-1, x.shape[-1])  # (N, D)
    return (_csr(w) @ flat.t()).t().reshape(*x.shape[:-1], w.shape[-1])


class HardMaxAttention(nn.Module):
    """H heads, query/key dimension 2, value dimension Dv, one output projection."""

    def __init__(self, d: int, heads: int, dv: int):
        super().__init__()
        self.heads, self.dv = heads, dv
        self.register_buffer("w_qkv", torch.zeros(d, heads * (4 + dv)))  # (D, H*2 | H*2 | H*Dv)
        self.register_buffer("b_qkv", torch.zeros(heads * (4 + dv)))
        self.register_buffer("w_o", torch.zeros(heads * dv, d))  # (H*Dv, D)

    def project(self, x: torch.Tensor, fmt: str = "sparse"):
        """Queries (..., H, 2), keys (..., H, 2), values (..., H, Dv) of x (..., D)."""
        H = self.heads
        qkv = matmul(x, self.w_qkv, fmt) + self.b_qkv
        q, k, v = qkv.split([2 * H, 2 * H, H * self.dv], dim=-1)
        return q.unflatten(-1, (H, 2)), k.unflatten(-1, (H, 2)), v.unflatten(-1, (H, self.dv))

    def forward(self, x: torch.Tensor, cache, fmt: str = "sparse"):
        q, k, v = self.project(x, fmt)  # (B, H, 2) (B, H, 2) (B, H, Dv)
        cache.append(k, v)
        found = cache.lookup(q)  # out (B, H, Dv)
        return x + matmul(found.out.flatten(1), self.w_o, fmt), found


class GatedFeedForward(nn.Module):
    """h = ReLU(x W1 + b1) * (x Wg + bg);  x + h W2."""

    def __init__(self, d: int, f: int):
        super().__init__()
        self.f = f
        self.register_buffer("w_in", torch.zeros(d, 2 * f))  # (D, F | F): W1 then Wg
        self.register_buffer("b_in", torch.zeros(2 * f))
        self.register_buffer("w_out", torch.zeros(f, d))  # (F, D)

    def forward(self, x: torch.Tensor, fmt: str = "sparse") -> torch.Tensor:
        pre, gate = (matmul(x, self.w_in, fmt) + self.b_in).split(self.f, dim=-1)  # (..., F) each
        return x + matmul(torch.relu(pre) * gate, self.w_out, fmt)


def _prompt_lookup(hit: torch.Tensor, values: torch.Tensor, first: int) -> torch.Tensor:
    """tied_mean of each query row of ``hit`` (B, H, C, P) over ``values`` (B, H, P, Dv), without a (C, P, Dv) tensor.

    Query c sits at position first + c and sees positions 0..first + c (the
    rest of its row is masked out).  A lone maximising position comes out
    as tied_mean has it, ``v + 0.0`` (``v`` at position 0, where it is the
    only one); rows with tied positions (or none, NaN scores) go through
    tied_mean itself.  Over
    the P columns instead of first + c + 1 the pairwise sum only adds +0.0
    subtrees, which changes nothing but the sign of a zero sum.
    """
    B, H, C, P = hit.shape
    idx = torch.arange(P, device=hit.device)
    sel = torch.where(hit, idx, -1).max(dim=-1).values  # (B, H, C)
    out = values.gather(2, sel.clamp_min(0).unsqueeze(-1).expand(-1, -1, -1, values.shape[-1]))  # (B, H, C, Dv)
    if first == 0:
        out = torch.cat([out[:, :, :1], out[:, :, 1:] + 0.0], dim=2)
    else:
        out = out + 0.0
    tied = hit.sum(dim=-1) != 1  # several maxima, or none (NaN scores): as tied_mean has it
    if bool(tied.any()):
        b, h, c = tied.nonzero(as_tuple=True)
        out[b, h, c] = tied_mean(hit[b, h, c], values[b, h])
    return out


def _left_pad(prompts: list, pad_token: int) -> tuple[np.ndarray, np.ndarray]:
    """The prompts left-padded into one (B, width) int64 grid, and each row's padding (B,)."""
    width = max(len(p) for p in prompts)
    grid = np.full((len(prompts), width), pad_token, dtype=np.int64)
    for b, p in enumerate(prompts):
        grid[b, width - len(p) :] = p
    return grid, np.array([width - len(p) for p in prompts], np.int64)


def _generation(rows) -> "Generation":
    """A Generation of rows (new tokens, selected, margin, best (steps, heads)), each cut after its first stop token.

    ``rows`` yields (tokens, selected, margin, best, stop tokens).
    """
    out = []
    for tokens, sel, mar, top, stop_set in rows:
        end = next((j + 1 for j, x in enumerate(tokens) if x in stop_set), None)
        n = end if end is not None else len(tokens)
        out.append((tokens[:n], sel[:n], mar[:n], top[:n], end is not None))
    return Generation(*(list(col) for col in zip(*out))) if out else Generation([], [], [], [], [])


def _streamed(gen: "Generation", sink) -> "Generation":
    """Hand each row's whole selected / margin / best to ``sink`` and return the Generation without them."""
    for b, (sel, mar, top) in enumerate(zip(gen.selected, gen.margin, gen.best)):
        sink(b, 0, sel, mar, top)
    return gen._replace(selected=[s[:0] for s in gen.selected], margin=[m[:0] for m in gen.margin],
                        best=[t[:0] for t in gen.best])


def _hand_over(sink, group, start: int, toks: np.ndarray, into: tuple, stops: np.ndarray, ended: np.ndarray) -> None:
    """Give ``sink`` the rows' spans of one native piece of ``len(toks)`` tokens, starting at new token ``start``:
    each row up to and including its first stop token; a row that ended (stop token, stop_when) gets no more."""
    n = len(toks)
    for i in np.flatnonzero(~ended):
        col = toks[:, i]
        hits = np.flatnonzero(np.isin(col, stops))
        end = int(hits[0]) + 1 if len(hits) else n
        ended[i] = len(hits) > 0
        sink(int(group[i]), start, *(torch.from_numpy(a[:end, i]) for a in into))


class Generation(NamedTuple):
    """What generate() returns, per batch row (with an ``attention_sink``, selected / margin / best are empty:
    the sink had them)."""

    tokens: list  # list[list[int]]: new tokens, up to and including the first stop token
    selected: list  # list[Tensor (steps, heads)]: position each head selected, per new token
    margin: list  # list[Tensor (steps, heads)]: best minus runner-up score (0 for an exact tie), per new token
    best: list  # list[Tensor (steps, heads)]: the best score, per new token (margin / |best|: how near a tie)
    stopped: list  # list[bool]: whether the row emitted a stop token


class Transformer(nn.Module):
    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = c = config
        self.register_buffer("tok_emb", torch.zeros(c.vocab_size, c.d_model))  # (V, D)
        self.register_buffer("pos_emb", torch.zeros(3, c.d_model))  # (3, D) for features (1, t, t^2)
        self.attn = nn.ModuleList(HardMaxAttention(c.d_model, h, dv) if h else None for h, dv in zip(c.n_heads, c.value_dim))
        self.ffn = nn.ModuleList(GatedFeedForward(c.d_model, f) if f else None for f in c.d_ff)
        self.register_buffer("w_out", torch.zeros(c.d_model, c.vocab_size))  # (D, V)
        self.register_buffer("b_out", torch.zeros(c.vocab_size))

    def embed(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        t = positions.to(self.tok_emb.dtype)
        feats = torch.stack([torch.ones_like(t), t, t * t], dim=-1)  # (..., 3)
        return self.tok_emb[tokens] + feats @ self.pos_emb  # (..., D)

    # -- fast path: one position at a time through KV caches -----------------
    def new_caches(self, batch: int, backend: str = "dense", **options) -> list:
        """One KV cache per attention layer (None for a layer without); options go to the cache class."""
        cls = cache_class(backend)
        dt, dev = self.tok_emb.dtype, self.tok_emb.device
        return [cls(batch, a.heads, a.dv, dtype=dt, device=dev, **options) if a is not None else None for a in self.attn]

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, caches: list, fmt: str = "sparse"):
        """Logits (B, V) for the next token, and each attention layer's Lookup."""
        x = self.embed(tokens, positions)  # (B, D)
        lookups = []
        for attn, ffn, cache in zip(self.attn, self.ffn, caches):
            if attn is not None:
                x, found = attn(x, cache, fmt)
                lookups.append(found)
            if ffn is not None:
                x = ffn(x, fmt)
        return matmul(x, self.w_out, fmt) + self.b_out, lookups

    def prefill(self, tokens: torch.Tensor, positions: torch.Tensor, caches: list, chunk: int = 64,
                fmt: str = "sparse") -> None:
        """Put a whole prompt (B, P) into the caches in one pass per layer.

        The same keys and values as P calls of step(): each layer projects
        all P positions, extends its cache with them, and the positions'
        outputs (needed by the next layer) are causal hard-max look-ups with
        the scores, ties and tied-value sums computed as the caches compute
        them (``q0*k0 + q1*k1``, ``tied_mean``), ``chunk`` queries at a time.
        """
        x = self.embed(tokens, positions)  # (B, P, D)
        P = tokens.shape[1]
        for attn, ffn, cache in zip(self.attn, self.ffn, caches):
            if attn is not None:
                q, k, v = attn.project(x, fmt)  # (B, P, H, 2) (B, P, H, 2) (B, P, H, Dv)
                cache.extend(k.transpose(0, 1), v.transpose(0, 1))
                kt, vt = k.transpose(1, 2), v.transpose(1, 2)  # (B, H, P, 2) (B, H, P, Dv)
                outs = []
                for lo in range(0, P, chunk):
                    hi = min(lo + chunk, P)
                    qc = q[:, lo:hi].transpose(1, 2)  # (B, H, C, 2)
                    s = qc[..., 0:1] * kt[..., 0].unsqueeze(-2) + qc[..., 1:2] * kt[..., 1].unsqueeze(-2)  # (B, H, C, P)
                    later = torch.arange(P, device=x.device) > torch.arange(lo, hi, device=x.device).unsqueeze(-1)
                    s = s.masked_fill(later, -torch.inf)
                    hit = s == s.max(dim=-1, keepdim=True).values
                    outs.append(_prompt_lookup(hit, vt, lo))  # (B, H, C, Dv)
                out = torch.cat(outs, dim=2).transpose(1, 2)  # (B, P, H, Dv)
                x = x + matmul(out.flatten(2), attn.w_o, fmt)
            if ffn is not None:
                x = ffn(x, fmt)

    # -- plain path: whole sequences, explicit causal hard-max ---------------
    def forward(self, tokens: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V) of a whole sequence, without caches (tests compare it with step())."""
        B, T = tokens.shape
        if positions is None:
            positions = torch.arange(T, device=tokens.device).expand(B, T)
        x = self.embed(tokens, positions)  # (B, T, D)
        causal = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
        for attn, ffn in zip(self.attn, self.ffn):
            if attn is not None:
                q, k, v = attn.project(x)  # (B, T, H, 2) (B, T, H, 2) (B, T, H, Dv)
                s = q[..., 0].transpose(1, 2).unsqueeze(-1) * k[..., 0].transpose(1, 2).unsqueeze(-2) + q[..., 1].transpose(
                    1, 2
                ).unsqueeze(-1) * k[..., 1].transpose(1, 2).unsqueeze(-2)  # (B, H, T, T)
                s = s.masked_fill(~causal, -torch.inf)
                hit = (s == s.max(dim=-1, keepdim=True).values).to(x.dtype)  # (B, H, T, T)
                out = (hit @ v.transpose(1, 2)) / hit.sum(-1, keepdim=True)  # (B, H, T, Dv)
                x = x + out.transpose(1, 2).flatten(2) @ attn.w_o
            if ffn is not None:
                x = ffn(x)
        return x @ self.w_out + self.b_out

    # -- decoding ------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        prompts: list,
        *,
        max_new_tokens: int,
        stop_tokens: Iterable[int],
        backend: str = "dense",
        weights: str = "sparse",
        engine: str = "torch",
        threads: int = 1,
        check_every: int = 64,
        stop_when: Callable[[int, list], bool] | None = None,
        attention_sink: Callable[[int, int, torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
    ) -> Generation:
        """Argmax-decode each prompt (left-padded into one batch) until every row stops.

        A row stops at a stop token, or when ``stop_when(row, its new tokens
        so far)`` says so (asked every ``check_every`` tokens: a caller's
        stopping criterion, e.g. output that can no longer be valid); its
        tokens end there.
        ``weights`` is the weight format of every matmul (WEIGHT_FORMATS).
        ``engine`` "native" runs the same steps fused into native calls
        (``reference_model/native.py``: CPU, float32/float64, hull
        attention, its own CSR format), its batch rows split over
        ``threads`` threads; it asks ``stop_when`` after ``check_every``
        tokens and then each time a row's tokens grew by a quarter (a
        caller that re-reads the whole output then does O(n) work in all).
        ``attention_sink(row, start, selected, margin, best)``, when given,
        receives each row's per-token look-up outputs as consecutive spans
        of its new tokens (``start``: the span's first token; arrays (n,
        heads), valid during the call only) instead of the Generation
        keeping them: the native engine then holds SINK_SPAN tokens of them
        at a time, not the whole run's (29 heads x 24 bytes a token in
        float64).
        """
        if weights not in WEIGHT_FORMATS:
            raise ValueError(f"unknown weight format {weights!r}; known: {', '.join(WEIGHT_FORMATS)}")
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        if engine == "native":
            return self._generate_native(prompts, max_new_tokens, stop_tokens, backend, check_every, stop_when, threads,
                                         attention_sink)
        dev = self.tok_emb.device
        B = len(prompts)
        grid, pad = _left_pad(prompts, self.config.pad_token)
        width = grid.shape[1]
        grid, offset = torch.from_numpy(grid).to(dev), torch.from_numpy(pad).to(dev)
        stops = torch.tensor(sorted(set(stop_tokens)), device=dev)
        caches = self.new_caches(B, backend)
        if width > 1:  # prefill: the prompt's own outputs are not needed
            steps = torch.arange(width - 1, device=dev)
            self.prefill(grid[:, : width - 1], steps - offset.unsqueeze(-1), caches, fmt=weights)
        token = grid[:, width - 1]
        out, sel, mar, top = [], [], [], []
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        seen: list[list[int]] = [[] for _ in range(B)]  # new tokens per row, as of the last check (stop_when)
        cut: list = [None] * B  # where stop_when stopped a row: its tokens end there
        for i in range(max_new_tokens):
            logits, lookups = self.step(token, width - 1 + i - offset, caches, weights)
            token = logits.argmax(dim=-1)  # (B,)
            out.append(token)
            if lookups:
                sel.append(torch.cat([f.selected for f in lookups], dim=1))  # (B, heads)
                # an exact tie (several positions share the best score, their values averaged) has margin 0
                mar.append(torch.cat([torch.where(f.ties > 1, 0, f.margin) for f in lookups], dim=1))
                top.append(torch.cat([f.best for f in lookups], dim=1))
            done |= torch.isin(token, stops)
            if (i + 1) % check_every == 0:
                if stop_when is not None:
                    for b, new in enumerate(torch.stack(out[len(seen[0]) :], dim=1).tolist()):
                        seen[b] += new
                        if not bool(done[b]) and stop_when(b, seen[b]):
                            done[b] = True
                            cut[b] = len(seen[b])
                if bool(done.all()):
                    break
        toks = torch.stack(out, dim=1).cpu() if out else torch.zeros(B, 0, dtype=torch.long)
        sel_t = torch.stack(sel, dim=1).cpu() if sel else torch.zeros(B, len(out), 0, dtype=torch.long)
        mar_t = torch.stack(mar, dim=1).cpu() if mar else torch.zeros(B, len(out), 0)
        top_t = torch.stack(top, dim=1).cpu() if top else torch.zeros(B, len(out), 0)
        stop_set = set(int(s) for s in stops.tolist())
        gen = _generation((toks[b].tolist()[: cut[b]], sel_t[b], mar_t[b], top_t[b], stop_set) for b in range(B))
        return gen if attention_sink is None else _streamed(gen, attention_sink)

    def _generate_native(self, prompts, max_new_tokens, stop_tokens, backend, check_every, stop_when,
                         threads: int = 1, sink=None) -> Generation:
        """generate() on the native engine: the same batch layout, stopping rule and Generation.

        With ``threads`` > 1 the rows are split into GROUPS_PER_THREAD groups
        per thread, decoded in parallel (the engine releases the GIL).  Every
        group keeps the whole batch's left padding, so a row sees exactly the
        positions it would see in one batch.
        """
        if backend != "hull" or self.tok_emb.device.type != "cpu":
            raise ValueError(f"the native engine runs hull attention on the CPU, not {backend} on {self.tok_emb.device}")
        B = len(prompts)
        grid, offset = _left_pad(prompts, self.config.pad_token)
        stops = np.array(sorted(set(stop_tokens)), np.int64)
        # with threads, GROUPS_PER_THREAD groups per thread, taken as threads come free: a group lasts as
        # long as its longest row, so smaller groups keep both threads busy when row lengths differ
        n_groups = 1 if threads <= 1 else min(B, threads * GROUPS_PER_THREAD)
        groups = [g for g in np.array_split(np.arange(B), n_groups) if len(g)]
        args = (grid, offset, stops, max_new_tokens, check_every, stop_when, sink)
        if len(groups) == 1:
            parts = [self._native_group(groups[0], *args)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(threads) as pool:
                parts = list(pool.map(lambda g: self._native_group(g, *args), groups))
        stop_set = set(int(s) for s in stops)
        return _generation((row, sel_t[:, i], mar_t[:, i], top_t[:, i], stop_set)
                           for rows, sel_t, mar_t, top_t in parts for i, row in enumerate(rows))

    def _native_group(self, group, grid, offset, stops, max_new_tokens, check_every, stop_when, sink=None):
        """Decode the batch rows ``group`` on one native engine: (tokens per row, selected, margin, best (n, rows, heads)).

        With a ``sink`` the last three go to it, SINK_SPAN tokens at a time, and come back empty."""
        from reference_model.native import Engine

        width = grid.shape[1]
        grid, offset = grid[group], offset[group]
        G = len(group)
        engine = Engine(self, G, max_positions=width + max_new_tokens)
        if width > 1:
            engine.prefill(grid[:, : width - 1], -offset)
        token = grid[:, width - 1].copy()
        done = np.zeros(G, np.bool_)
        # selected / margin / best of every step, written in place by the engine: room for the whole budget when
        # it fits in OUT_UPFRONT_BYTES (pages no step reaches are never touched), else grown by doubling
        dt = engine.w.tok_emb.dtype
        per_step = G * engine.heads * (8 + 2 * dt.itemsize)
        cap = max(1, min(max_new_tokens, max(check_every, OUT_UPFRONT_BYTES // max(per_step, 1))))
        if sink is not None:
            cap = min(cap, SINK_SPAN)
        bufs = (np.empty((cap, G, engine.heads), np.int64), np.empty((cap, G, engine.heads), dt),
                np.empty((cap, G, engine.heads), dt))
        new = 0
        rows: list[list[int]] = [[] for _ in range(G)]
        cut: list = [None] * G
        ended = np.zeros(G, np.bool_)  # with a sink: the rows whose spans ended
        while True:
            chunk = min(max(check_every, new // 4), max_new_tokens - new)
            while chunk > 0 and not done.all():  # with a sink in pieces of SINK_SPAN, else in one
                n = chunk if sink is None else min(chunk, SINK_SPAN)
                if sink is None and new + n > cap:
                    cap = min(max_new_tokens, max(new + n, 2 * cap))
                    grown = tuple(np.empty((cap,) + b.shape[1:], b.dtype) for b in bufs)
                    for g, b in zip(grown, bufs):
                        g[:new] = b[:new]
                    bufs = grown
                into = tuple(b[new:] for b in bufs) if sink is None else bufs
                toks = engine.decode(token, width - 1 + new - offset, n, stops, done, into=into)[0]
                if sink is not None:
                    _hand_over(sink, group, new, toks, into, stops, ended)
                new += len(toks)
                chunk -= n
                for i in range(G):
                    rows[i] += toks[:, i].tolist()
                token = toks[-1].copy()
            if new >= max_new_tokens or done.all():
                break
            if stop_when is not None:
                for i in range(G):
                    if not done[i] and stop_when(int(group[i]), rows[i]):
                        done[i] = True  # retired: the engine computes nothing more for it
                        ended[i] = True
                        cut[i] = len(rows[i])
                if done.all():
                    break
        rows = [row[:c] for row, c in zip(rows, cut)]  # a retired row's later tokens are fillers
        if sink is not None:
            new = 0
        sel_t, mar_t, top_t = (torch.from_numpy(b[:new]) for b in bufs)
        return rows, sel_t, mar_t, top_t
