"""The native engine: the generic transformer's decode step, fused into one numba call per chunk of tokens.

``Transformer.generate(engine="native")`` (CPU, float32/float64, hull
attention) runs here.  It computes what ``Transformer.step`` computes, the
same layers in the same order, from the same compiled weights:

* embedding ``tok_emb[token] + (1, t, t*t) @ pos_emb``, computed at the
  entries the token's row or a row of pos_emb makes non-zero (``emb_idx``,
  listed at packing; every other entry sums +0s);
* per attention layer: ``qkv = x W_qkv + b_qkv``, the keys and values
  appended to the layer's hull cache and the queries looked up there (the
  kernels of ``attention/_hull_kernels.py`` that HullCache runs),
  ``x + out W_o``.  Heads whose key columns of W_qkv and b_qkv are
  identical compute identical keys, so they share one hull index (their
  values side by side) and each head's query is looked up in it: in the
  compiled model every layer's heads share their keys, 3 appends per token
  instead of 26 (``key_groups``);
* per feed-forward layer: ``x + (ReLU(x W1 + b1) * (x Wg + bg)) W2``;
* readout ``x W_out + b_out`` and argmax (the first maximum; a NaN wins, as
  in torch).

Nothing here knows about WebAssembly either: the loop only feeds each
emitted token back in and steps the caches (ARCHITECTURE.md rule 1).  What
it removes is the per-operation cost of Python and torch, about 100 small
tensor operations per token.

Weight format: every matrix is kept as CSR over its *input* rows, and
``x @ W`` adds ``x[d] * W[d, :]`` for the non-zero ``x[d]`` in ascending
``d`` (the residual stream and the ReLU outputs are mostly zeros, so a
token reads a small part of the weights: about 3,200 of the 52,000
non-zero matrix weights; the non-zero entries are listed as they are
written).  Every output is then the sum of its non-zero terms in
ascending input order, starting from +0, the bias added last: exactly what the row-ordered CSR product of the torch
``"sparse"`` format computes (skipping a zero term cannot change a sum that
starts at +0).  In float64 the compiled model's sums are exact anyway; in
float32 the order matters, which is why the engine is part of a run's
config (see ``harness/executors/transformer.py``).

Only what an input reaches is computed: a feed-forward unit that no product
reaches has ``h = ReLU(b1) * bg``, so a token evaluates the units it reached
plus the few that are on at rest (``rest``), in ascending order; a layer no
input reaches adds its precomputed ``rest_out`` (the same sums, made once);
a reached layer whose inputs are not near its units on at rest
(``rest_near``: no input reaches one of them or a unit sharing one of their
outputs) evaluates only the reached units and adds ``rest_out`` too (the
compiled comparators: 255 units on at rest feeding one output);
the residual adds ``acc`` where a product landed (everywhere else it is +0);
the readout computes the logits an input reached and takes the best of the
others from their biases (``rest_order``).  Each is what the dense
evaluation gives, bit for bit.

The torch engine multiplies matrices under ``SPARSE_MIN`` elements densely
(BLAS order).  In the compiled model those have at most two non-zeros per
output and give the same bits; for other models only the larger matrices
are guaranteed to (tests/test_native.py builds its random model so).

What is left of a token's cost is memory traffic, so the loops are written
for it: indices known to be >= 0 are unsigned (``_u``: numba adds a
negative-index fix-up to every access with a signed one), the batch's rows
are offsets into flat arrays (a row view costs two atomic reference
counts), the CSR helpers are inlined, and the hull kernels run on borrowed
arrays (``hk._borrow``) with scratch sized once per call so that it never
grows; ``_held`` keeps their owners alive to the end.  A cache whose
length is known is reserved at once (``_first_capacity``), saving the
copies and fresh pages of doubling; a cache stores each distinct value once
(``_hull_kernels``: an id per position), and the per-step outputs are
written in place into one buffer (``Transformer._native_group``): fresh
pages are what a long run pays the kernel for (on a virtual machine, the
host's first touch too).

Prompts go through the same step as generated tokens (their outputs are
not read out), so prefill costs O(P log P) on the hull instead of the
O(P^2) of the dense prefill.

A look-up with one maximising position hands over its value's id rather
than a copy of the group's value row (``lazy``): each head reads its own
slot of the row, with the ``+ 0`` the copy adds.
"""
from __future__ import annotations

import sys
import warnings
import weakref
from typing import NamedTuple

import numpy as np
import torch
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.typed import List

from reference_model.attention import _hull_kernels as hk
from reference_model.attention.hull import HullCache


def _drop_stale_cache() -> None:
    """numba keys the cache of this module's functions on this file alone, but the hull kernels are compiled
    into them from another: drop the cache when the kernels' source changes (a stale cache would keep running
    the old kernels)."""
    import hashlib
    from pathlib import Path

    here = Path(__file__).resolve().parent
    cache = here / "__pycache__"
    digest = hashlib.sha256(Path(hk.__file__).read_bytes()).hexdigest()
    stamp = cache / "native.kernels.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest:
            return
        for f in cache.glob("native.*.nb[ic]"):
            f.unlink(missing_ok=True)
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest)
    except OSError:  # a read-only install: numba then caches elsewhere, or not at all
        pass


_drop_stale_cache()

DTYPES = {torch.float64: np.float64, torch.float32: np.float32}


class Packed(NamedTuple):
    """A model's weights in the engine's format (numpy arrays of the model's dtype)."""

    tok_emb: np.ndarray  # (V, D)
    pos_emb: np.ndarray  # (3, D)
    layers: np.ndarray  # (L, 13) int64: heads, dv, d_ff, matrix of qkv, of w_o, of w_in, of ffn w_out, cache index,
    #                     key groups S, largest group G, offset of the layer's heads in hmap, offset in rest,
    #                     non-zeros of rest_out
    hmap: np.ndarray  # (heads of all layers, 2) int64: each head's key group and slot in it
    mats: np.ndarray  # (M, 4) int64: first row pointer, rows (inputs), columns (outputs), bias offset or -1
    rowptr: np.ndarray  # int64, absolute offsets into col / val
    col: np.ndarray  # uint32 (unsigned: numba indexes with it without a negative-index fix-up)
    val: np.ndarray
    bias: np.ndarray
    rest: np.ndarray  # uint8, per feed-forward layer (8-aligned): 1 for units whose h is non-zero with no input
    rest_out: np.ndarray  # (L, D): a feed-forward layer's h W2 when only its units on at rest are on
    rest_nz: np.ndarray  # (L, D) int64: the non-zero entries of rest_out[l] (layers[l, 12] of them)
    rest_order: np.ndarray  # int64: the readout's outputs by falling bias (NaN first), ties by index
    emb_ptr: np.ndarray  # (V + 1,) int64: token v's embedding entries are emb_idx[emb_ptr[v]:emb_ptr[v + 1]]
    emb_idx: np.ndarray  # int64: ascending, the d where tok_emb[v, d] or a row of pos_emb is non-zero (or NaN)
    readout: int  # matrix of the readout
    rest_near: np.ndarray  # (L, D) uint8: input d of a feed-forward layer reaches a unit on at rest or one whose
    #                        W2 row shares an output with a unit on at rest (see _rest_near)
    prompt_live: np.ndarray  # (L, 2) uint8: a layer's look-up, its feed-forward, needed at a prompt position
    #                          (see _prompt_live)


_PACKS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> (versions of its buffers, Packed)


def _versions(model) -> tuple:
    return tuple((id(b), b._version) for b in model.buffers())


def packed(model) -> Packed:
    """The model's Packed weights, made once and made again if a buffer changed in place (a planted fault)."""
    hit = _PACKS.get(model)
    versions = _versions(model)
    if hit is None or hit[0] != versions:
        hit = (versions, _pack(model))
        _PACKS[model] = hit
    return hit[1]


def _pack(model) -> Packed:
    dt = DTYPES[model.tok_emb.dtype]
    mats, ptrs, cols, vals, biases = [], [], [], [], []
    n_ptr = n_nz = n_bias = 0

    def add(w: torch.Tensor, b: torch.Tensor | None) -> int:
        nonlocal n_ptr, n_nz, n_bias
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            csr = w.detach().cpu().to_sparse_csr()  # rows = inputs, columns sorted ascending within a row
        crow = csr.crow_indices().numpy().astype(np.int64)
        mats.append((n_ptr, w.shape[0], w.shape[1], n_bias if b is not None else -1))
        ptrs.append(crow + n_nz)
        cols.append(csr.col_indices().numpy().astype(np.uint32))
        vals.append(csr.values().numpy().astype(dt))
        n_ptr += len(crow)
        n_nz += int(crow[-1])
        if b is not None:
            biases.append(b.detach().cpu().numpy().astype(dt))
            n_bias += b.shape[0]
        return len(mats) - 1

    layers, hmap, rest = [], [], []
    n_cache = 0
    for attn, ffn in zip(model.attn, model.ffn):
        row = [0, 0, 0, -1, -1, -1, -1, -1, 0, 0, len(hmap), -1, 0]
        if attn is not None:
            row[0:2] = attn.heads, attn.dv
            row[3], row[4] = add(attn.w_qkv, attn.b_qkv), add(attn.w_o, None)
            row[7] = n_cache
            n_cache += 1
            groups = key_groups(attn)
            row[8], row[9] = len(groups), max(len(g) for g in groups)
            where = {h: (gi, slot) for gi, g in enumerate(groups) for slot, h in enumerate(g)}
            hmap += [where[h] for h in range(attn.heads)]
        if ffn is not None:
            row[2] = ffn.f
            row[5], row[6] = add(ffn.w_in, ffn.b_in), add(ffn.w_out, None)
            row[11] = len(rest)
            rest += list(_on_at_rest(ffn).astype(np.uint8)) + [0] * (-ffn.f % 8)
        layers.append(row)
    readout = add(model.w_out, model.b_out)
    b_out = model.b_out.detach().cpu().numpy()
    rest_order = np.lexsort((np.arange(len(b_out)), -np.nan_to_num(b_out, nan=np.inf), ~np.isnan(b_out)))
    layers, mats = np.array(layers, np.int64), np.array(mats, np.int64)
    rowptr, col, val, bias = np.concatenate(ptrs), np.concatenate(cols), np.concatenate(vals), np.concatenate(biases)
    D = model.tok_emb.shape[1]
    rest_out, rest_nz = np.zeros((len(layers), D), dt), np.zeros((len(layers), D), np.int64)
    for li, row in enumerate(layers):
        if row[2] > 0:  # what the engine's unit pass computes when no input reaches the layer's units
            F, bo = int(row[2]), int(mats[row[5], 3])
            p, g = np.zeros(F, dt) + bias[bo: bo + F], np.zeros(F, dt) + bias[bo + F: bo + 2 * F]
            h = np.where(p <= 0, dt(0), p) * g
            on = np.flatnonzero(h != 0)
            acc = np.zeros(max(D, int(mats[row[6], 2])), dt)
            _scatter(h, _u(0), on, _u(0), len(on), row[6], mats, rowptr, col, val, acc)
            rest_out[li] = acc[:D]
            nz = np.flatnonzero(acc[:D] != 0)
            rest_nz[li, : len(nz)] = nz
            row[12] = len(nz)
    tok, pos = model.tok_emb.detach().cpu().numpy().astype(dt), model.pos_emb.detach().cpu().numpy().astype(dt)
    # an entry d outside these sums +0s and products of a position with +0: the embedding is 0 there
    lists = [np.flatnonzero((tok[v] != 0) | (pos != 0).any(axis=0)) for v in range(tok.shape[0])]
    emb_ptr = np.zeros(tok.shape[0] + 1, np.int64)
    emb_ptr[1:] = np.cumsum([len(e) for e in lists])
    emb_idx = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, np.int64)
    return Packed(tok, pos,
                  layers, np.array(hmap, np.int64).reshape(-1, 2), mats, rowptr, col, val, bias,
                  np.array(rest + [0] * 8, np.uint8), rest_out, rest_nz, rest_order.astype(np.int64),
                  emb_ptr, emb_idx, readout, _rest_near(model, dt), _prompt_live(model))


def _on_at_rest(ffn) -> np.ndarray:
    """(F,) bool: the units whose h = ReLU(b1) * bg is non-zero with no input (NaN and inf * 0 count as on)."""
    b_in = ffn.b_in.detach().cpu().numpy()
    b1, bg = b_in[: ffn.f], b_in[ffn.f:]
    return ~(b1 <= 0) & ((bg != 0) | ~np.isfinite(b1))


def _rest_near(model, dt) -> np.ndarray:
    """Per feed-forward layer and input d: 1 if a product of input d can change what the units on at rest add.

    The outputs of the units on at rest (their W2 columns, ``rest_cols``) are
    summed once at packing (rest_out).  A unit is *near* the rest if it is on
    at rest or its W2 row has an entry in rest_cols; an input is near if its
    W1 row (pre or gate) has an entry on a near unit.  When no input of a
    position is near, the units an input reached share no output with the
    units on at rest, and those stay at rest: every rest_cols output is its
    rest_out (the same terms in the same order) and every other output is
    the sum over the reached units alone, so the engine evaluates only the
    reached units and adds rest_out (the compiled model's comparators: 255
    units on at rest feeding one output, reached by their own input only).
    Entries are what the CSR keeps (non-zero or NaN), the same as the engine reads.
    """
    D = model.tok_emb.shape[1]
    near = np.zeros((len(model.ffn), D), np.uint8)
    for li, ffn in enumerate(model.ffn):
        if ffn is None:
            continue
        F = ffn.f
        on = _on_at_rest(ffn)
        w2 = ffn.w_out.detach().cpu().numpy().astype(dt) != 0  # (F, D); NaN counts
        rest_cols = w2[on].any(axis=0)
        unit_near = on | w2[:, rest_cols].any(axis=1)
        w1 = ffn.w_in.detach().cpu().numpy().astype(dt) != 0  # (D, 2F)
        near[li] = (w1[:, :F] & unit_near).any(axis=1) | (w1[:, F:] & unit_near).any(axis=1)
    return near


def _prompt_live(model) -> np.ndarray:
    """Per layer: [its look-up (queries, output) is needed, its feed-forward is needed] at a prompt position.

    Nothing is read out at a prompt position: all it leaves for later
    positions is the keys and values it appends to every attention layer.
    So an entry d of the residual stream is *live* before layer l if a key
    or value projection of layer l or later reads it (their W_qkv rows),
    or a part of a layer that is needed reads it: going back from the last
    layer, a feed-forward layer is needed if a unit of it writes a live
    entry (its W2), and then the inputs of those units are live (W1, pre
    and gate); a look-up is needed if its output projection (W_o) writes a
    live entry, and then its queries' inputs are live.  Everything else
    computed at a prompt position is never read, so the engine skips it
    there: the keys and values appended are the same bits.  (The compiled
    model: layer 0's look-up and the first two feed-forward layers; the
    prompt's keys and values need nothing else.)  Entries are what the CSR
    keeps (non-zero or NaN).
    """
    live = np.zeros(model.tok_emb.shape[1], np.bool_)
    need = np.zeros((len(model.ffn), 2), np.uint8)
    for li in reversed(range(len(model.ffn))):
        attn, ffn = model.attn[li], model.ffn[li]
        if ffn is not None:
            F = ffn.f
            w_in, w_out = ffn.w_in.detach().cpu().numpy() != 0, ffn.w_out.detach().cpu().numpy() != 0
            units = w_out[:, live].any(axis=1)
            if units.any():
                need[li, 1] = 1
                live |= w_in[:, :F][:, units].any(axis=1) | w_in[:, F:][:, units].any(axis=1)
        if attn is not None:
            H = attn.heads
            w_qkv = attn.w_qkv.detach().cpu().numpy() != 0
            if (attn.w_o.detach().cpu().numpy() != 0)[:, live].any():
                need[li, 0] = 1
                live |= w_qkv[:, : 2 * H].any(axis=1)
            live |= w_qkv[:, 2 * H :].any(axis=1)
    return need


def key_groups(attn) -> list[list[int]]:
    """The layer's heads grouped by key projection: heads whose key columns of W_qkv and b_qkv are identical.

    Such heads compute bit-identical keys at every position (the same sums
    in the same order), so the engine keeps one hull index per group and
    looks up each head's query in it, the heads' values side by side.
    """
    H = attn.heads
    groups: dict = {}
    for h in range(H):
        cols = slice(2 * H + 2 * h, 2 * H + 2 * h + 2)
        sig = (attn.w_qkv[:, cols].detach().cpu().numpy().tobytes(), attn.b_qkv[cols].detach().cpu().numpy().tobytes())
        groups.setdefault(sig, []).append(h)
    return list(groups.values())


@njit(cache=True, inline="always")
def _u(i):
    """An index known to be >= 0 as unsigned: numba then indexes with it directly (a signed index pays a
    negative-index fix-up at every access)."""
    return np.uint64(i)


@njit(cache=True, inline="always")
def _scatter(x, xo, nz, zo, nnz, m, mats, rowptr, col, val, acc):
    """acc[f] += x[xo + d] * W_m[d, f] for the inputs d = nz[zo:zo + nnz] (ascending): acc must start at +0.

    The caller then adds the bias (if any) to each output it reads and puts
    the output back to 0, so every output is its non-zero terms summed in
    ascending input order from +0, the bias added last.  (Rows of the batch
    are offsets into flat arrays, not views: a view costs two atomic
    reference counts, and the helpers are inlined for the same reason.)
    """
    base = _u(mats[m, 0])
    for k in range(nnz):
        d = _u(nz[zo + k])
        xd = x[xo + d]
        for j in range(_u(rowptr[base + d]), _u(rowptr[base + d + 1])):
            acc[col[j]] += xd * val[j]


@njit(cache=True, inline="always")
def _scatter_out(x, xo, nz, zo, nnz, m, mats, rowptr, col, val, acc, omark, olist):
    """_scatter, listing the outputs it reached in olist (once each, omark set for them). Returns their count."""
    base = _u(mats[m, 0])
    no = 0
    for k in range(nnz):
        d = _u(nz[zo + k])
        xd = x[xo + d]
        for j in range(_u(rowptr[base + d]), _u(rowptr[base + d + 1])):
            c = col[j]
            acc[c] += xd * val[j]
            if omark[c] == 0:
                omark[c] = 1
                olist[no] = c
                no += 1
    return no


@njit(cache=True, inline="always")
def _add(x, xo, src, so, idx, io, n, xm, mo):
    """x[xo + d] += src[so + d] for d in idx[io:io + n]; xm[mo + d] = [x[xo + d] != 0].  Returns whether an entry
    of xm changed."""
    changed = False
    for k in range(n):
        d = _u(idx[io + k])
        v = x[xo + d] + src[so + d]
        x[xo + d] = v
        nzd = v != 0
        if nzd != (xm[mo + d] != 0):
            xm[mo + d] = 1 if nzd else 0
            changed = True
    return changed


@njit(cache=True, inline="always")
def _residual(x, xo, acc, olist, no, omark, xm, mo):
    """x += acc at the outputs olist[:no] (acc and omark back to 0 there); xm[mo + d] = [x[xo + d] != 0].

    Every other acc entry is +0 and x + 0 is x (-0 becomes +0, which no
    reader can tell: zeros are never read), so this is ``x + acc``.  Returns
    whether an entry of xm changed.
    """
    changed = _add(x, xo, acc, _u(0), olist, _u(0), no, xm, mo)
    for k in range(no):
        o = _u(olist[k])
        acc[o] = 0
        omark[o] = 0
    return changed


@intrinsic
def _ctz(typingctx, w):
    """Trailing zero bits of a non-zero uint64 (llvm.cttz)."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(64), [ir.IntType(64),
                                                                                             ir.IntType(1)]),
                                            "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 1)])
    return types.uint64(types.uint64), codegen


@njit(cache=True, inline="always")
def _listed(xm, mo, n, nz, zo):
    """List the set entries of the 0/1 bytes xm[mo:mo + n] (ascending, 8 at a time; mo and n multiples of 8) in
    nz[zo:], as offsets from mo. Returns their count.

    A set byte of a little-endian word is one bit at 8 * (its index): each is found by its trailing zeros and
    cleared (w & (w - 1)), without a branch per byte.
    """
    xm8 = xm.view(np.uint64)
    nnz = 0
    one = np.uint64(1)
    for w in range(mo >> 3, (mo + n) >> 3):
        bits = xm8[w]
        while bits != 0:
            nz[zo + nnz] = np.int64(_u(8 * w) + (_ctz(bits) >> np.uint64(3)) - mo)
            nnz += 1
            bits &= bits - one
    return nnz


@njit(cache=True, nogil=True)
def decode(tok_emb, pos_emb, layers, hmap, mats, rowptr, col, val, bias, rest, rest_out, rest_nz, rest_order, emb_ptr,
           emb_idx, readout, rest_near, prompt_live,
           keys_l, vals_l, vhash_l, gxy_l, ist_l, box_l, meta_l, aid_l, axy_l, eps, eta, fallbacks,
           feed, pos0, n, emit, stops, done, out_tok, out_sel, out_mar, out_top):
    """Run ``n`` positions of a batch through the model, all layers, in one call.

    feed (B, P): with ``emit`` false, the P positions fed are its columns
    (a prompt; nothing is read out, n == P, and only what its keys and values
    need is computed: ``prompt_live``).  With ``emit`` true, P == 1:
    the first position takes feed[:, 0], every later one the token emitted
    at the position before; each emitted token goes to out_tok[i], each
    head's selected position / margin (0 for an exact tie) / best score to
    out_sel[i] / out_mar[i] / out_top[i], and rows whose token is in
    ``stops`` are marked in ``done``; a row marked done (here or by the
    caller) is retired: nothing more is computed for it, its outputs are
    fillers (0).  The first position of row b is
    pos0[b].  Caches need capacity for n more positions.  Returns how many
    positions ran: n, or fewer once every row is done.
    """
    B = feed.shape[0]
    D = tok_emb.shape[1]
    L = layers.shape[0]
    dt = tok_emb.dtype
    zero = np.zeros(1, dt)[0]
    width = D
    for m in range(mats.shape[0]):
        width = max(width, mats[m, 2], mats[m, 1])
    mark = rest.copy()  # per feed-forward unit: 1 on at rest, | 2 reached by an input at this position
    mark8 = mark.view(np.uint64)  # 8 units a word, unit k of a word in its byte k (little-endian)
    LOW, one, three = np.uint64(0x0101010101010101), np.uint64(1), np.uint64(3)
    Dm = (D + 7) // 8 * 8
    rest_flat, rest_nzf = rest_out.reshape(-1), rest_nz.reshape(-1)
    # the batch's rows side by side in flat arrays (row b at b * D, b * Dm): see _scatter
    x = np.zeros(B * D, dt)
    xm = np.zeros(B * Dm, np.uint8)  # [x != 0] per row
    omark = np.zeros(width, np.uint8)  # the outputs of x + ... W that a product reached
    olist = np.empty(width, np.int64)
    nzx = np.empty(B * D, np.int64)  # the non-zero entries of each row of x
    nnzx = np.zeros(B, np.int64)
    acc = np.zeros(width, dt)  # products summed here; every reader puts what it read back to 0
    h = np.empty(width, dt)
    nzh = np.empty(width, np.int64)
    tv = np.empty(2, dt)
    tok = np.empty(B, np.int64)
    for b in range(B):
        tok[b] = feed[b, 0]
    hmax, smax, dvmax = 1, 1, 1
    for li in range(L):
        hmax = max(hmax, layers[li, 0])
        smax = max(smax, layers[li, 8])
        dvmax = max(dvmax, layers[li, 9] * layers[li, 1])
    nk = np.empty((1, B * smax, 2), dt)
    nv = np.zeros((1, B * smax, dvmax), dt)  # a group smaller than the layer's largest leaves its slots 0
    q = np.empty((B * hmax, 2), dt)
    qrow = np.empty(B * hmax, np.int64)
    out_f = np.empty((B * smax, dvmax + 2), dt)
    out_i = np.empty((B * smax, 3), np.int64)
    res_f = np.empty((B * hmax, dvmax + 2), dt)
    res_i = np.empty((B * hmax, 3), np.int64)  # selected, ties, the value's id (lazy look-ups: -1 for a mean)
    ncache = 0
    for li in range(L):
        ncache = max(ncache, layers[li, 7] + 1)
    hints = np.full((max(ncache, 1), B * hmax, 8), -1, np.int64)  # per query: where its maximum was last step
    on = np.empty(B, np.bool_)  # rows still decoding: a done row is retired (no work, no look-ups)
    rows_on = np.empty(B * smax, np.bool_)
    # The hull kernels run on borrowed arrays (hk._borrow: no reference counts, which cost two atomic operations
    # per array per call, per layer and token otherwise); everything borrowed is owned here for the whole call
    # (_held at the end keeps the owners alive: numba frees a variable after its last use).
    # Their scratch is made large enough never to grow: a row has at most `cap` positions and groups, a chain
    # at most `cap` vertices (the caller reserved capacity for n more positions).
    cap = 1
    for a in range(ncache):
        cap = max(cap, keys_l[a].shape[1])
    ev, pend, nxt = np.empty(2 * cap + 4, np.int32), np.empty(2 * cap + 4, np.int32), np.empty(2 * cap + 4, np.int32)
    cand, cs, pos, vmax = np.empty(cap, np.int32), np.empty(cap, dt), np.empty(cap, np.int64), np.empty(64, np.int64)
    b_keys = [hk._borrow(keys_l[a]) for a in range(ncache)]
    b_vals = [hk._borrow(vals_l[a]) for a in range(ncache)]
    b_gxy = [hk._borrow(gxy_l[a]) for a in range(ncache)]
    b_ist = [hk._borrow(ist_l[a]) for a in range(ncache)]
    b_box = [hk._borrow(box_l[a]) for a in range(ncache)]
    b_meta = [hk._borrow(meta_l[a]) for a in range(ncache)]
    b_ev, b_pend, b_nxt = hk._borrow(ev), hk._borrow(pend), hk._borrow(nxt)
    b_cand, b_cs, b_pos, b_vmax = hk._borrow(cand), hk._borrow(cs), hk._borrow(pos), hk._borrow(vmax)
    b_nk, b_nv, b_q, b_qrow = hk._borrow(nk), hk._borrow(nv), hk._borrow(q), hk._borrow(qrow)
    b_out_f, b_out_i, b_res_f, b_res_i = hk._borrow(out_f), hk._borrow(out_i), hk._borrow(res_f), hk._borrow(res_i)
    b_hints, b_rows_on = hk._borrow(hints), hk._borrow(rows_on)
    ninf = np.full(1, -np.inf, dt)[0]
    for i in range(n):
        if not emit and i > 0:
            for b in range(B):
                tok[b] = feed[b, i]
        for b in range(B):
            on[b] = not done[b]
        # embedding
        for b in range(B):
            if not on[b]:
                continue
            tv[0] = pos0[b] + i
            tv[1] = tv[0] * tv[0]
            # the entries the last position left non-zero back to 0, then the token's own (every other entry
            # of the embedding is 0: emb_idx)
            xo, mo = _u(b * D), _u(b * Dm)
            for k in range(nnzx[b]):
                d = _u(nzx[xo + k])
                x[xo + d] = 0
                xm[mo + d] = 0
            t = tok[b]
            nnz = 0
            for k in range(emb_ptr[t], emb_ptr[t + 1]):
                d = _u(emb_idx[k])
                v = tok_emb[t, d] + (pos_emb[0, d] + tv[0] * pos_emb[1, d] + tv[1] * pos_emb[2, d])
                x[xo + d] = v
                if v != 0:
                    xm[mo + d] = 1
                    nzx[xo + nnz] = d
                    nnz += 1
            nnzx[b] = nnz
        hoff = 0
        for li in range(L):
            H, dv, F = layers[li, 0], layers[li, 1], layers[li, 2]
            if H > 0:
                a = layers[li, 7]
                S, dvs, hm = layers[li, 8], layers[li, 9] * dv, layers[li, 10]
                m, bo = layers[li, 3], mats[layers[li, 3], 3]
                for b in range(B):
                    for s in range(S):
                        rows_on[b * S + s] = on[b]
                    if not on[b]:
                        for hh in range(H):
                            qrow[b * H + hh] = -1
                        continue
                    xo = _u(b * D)  # row b of x and nzx
                    _scatter(x, xo, nzx, xo, nnzx[b], m, mats, rowptr, col, val, acc)
                    for f in range(mats[m, 2]):
                        acc[f] = acc[f] + bias[bo + f]
                    for hh in range(H):
                        qi, r, slot = b * H + hh, b * S + hmap[hm + hh, 0], hmap[hm + hh, 1]
                        q[qi, 0], q[qi, 1] = acc[2 * hh], acc[2 * hh + 1]
                        qrow[qi] = r
                        nk[0, r, 0], nk[0, r, 1] = acc[2 * H + 2 * hh], acc[2 * H + 2 * hh + 1]  # the group's key
                        for d in range(dv):
                            nv[0, r, slot * dv + d] = acc[4 * H + hh * dv + d]
                    for f in range(mats[m, 2]):
                        acc[f] = 0
                keys, vals, gxy, ist, box, meta = b_keys[a], b_vals[a], b_gxy[a], b_ist[a], b_box[a], b_meta[a]
                aid, axy, vhash = aid_l[a], axy_l[a], vhash_l[a]
                # append_rows and query_rows, without their reference counts and allocations (see above)
                a2, x2, h2, _, _, _ = hk._append_loop(keys, vals, hk._borrow(vhash), gxy, ist, box, meta,
                                                      hk._borrow(aid), hk._borrow(axy), b_nk[:, : B * S], b_nv,
                                                      b_rows_on, b_ev, b_pend, b_nxt)
                if a2.ctypes.data != aid.ctypes.data:  # the arena grew: a new array (owned)
                    aid = a2
                    aid_l[a] = aid
                if x2.ctypes.data != axy.ctypes.data:
                    axy = x2
                    axy_l[a] = axy
                if h2.ctypes.data != vhash.ctypes.data:  # the value table grew
                    vhash_l[a] = h2
                if emit or prompt_live[li, 0] != 0:  # at a prompt position, only if something reads it
                    K = meta[hk.M_K]
                    fallbacks[a] += hk._query_loop(keys, vals, gxy, ist, box, meta, hk._borrow(aid),
                                                   hk._borrow(axy), b_q[: B * H], b_qrow[: B * H], b_out_f, b_out_i,
                                                   b_res_f, b_res_i, True, b_cand, b_cs, b_pos, b_vmax,
                                                   b_hints[a, : B * H], eps, eta, K, 4 + 6 * K, zero, ninf, True)
                    plus = meta[hk.M_T] > 1  # a single position's value is read as the copy reads it: + 0 when T > 1
                    for b in range(B):
                        if not on[b]:
                            if emit:
                                for hh in range(H):
                                    out_sel[i, b, hoff + hh] = 0
                                    out_mar[i, b, hoff + hh] = zero
                                    out_top[i, b, hoff + hh] = zero
                            continue
                        xo, mo = _u(b * D), _u(b * Dm)  # row b of x and nzx, of xm
                        nnz = 0
                        for hh in range(H):
                            qi, slot = b * H + hh, hmap[hm + hh, 1]
                            vi = res_i[qi, 2]
                            for d in range(dv):
                                if vi < 0:
                                    v = res_f[qi, slot * dv + d]
                                elif plus:
                                    v = vals[vi, slot * dv + d] + zero
                                else:
                                    v = vals[vi, slot * dv + d]
                                h[hh * dv + d] = v
                                if v != 0:
                                    nzh[nnz] = hh * dv + d
                                    nnz += 1
                            if emit:
                                out_sel[i, b, hoff + hh] = res_i[qi, 0]
                                out_mar[i, b, hoff + hh] = zero if res_i[qi, 1] > 1 else res_f[qi, dvs]
                                out_top[i, b, hoff + hh] = res_f[qi, dvs + 1]
                        no = _scatter_out(h, _u(0), nzh, _u(0), nnz, layers[li, 4], mats, rowptr, col, val, acc, omark,
                                          olist)
                        if _residual(x, xo, acc, olist, no, omark, xm, mo):
                            nnzx[b] = _listed(xm, mo, Dm, nzx, xo)
                hoff += H
            if F > 0 and (emit or prompt_live[li, 1] != 0):
                m, bo, ro = layers[li, 5], mats[layers[li, 5], 3], layers[li, 11]
                uro, ubo, uF = _u(ro), _u(bo), _u(F)
                for b in range(B):
                    if not on[b]:
                        continue
                    xo, mo = _u(b * D), _u(b * Dm)
                    # h = ReLU(x W1 + b1) * (x Wg + bg), only for the units an input reached or that are on at
                    # rest: every other unit's h is ReLU(b1) * bg == 0 (what rest says)
                    base = mats[m, 0]
                    reached = False
                    near = False  # an input near the units on at rest (_rest_near): evaluate those too
                    for k in range(nnzx[b]):
                        d = _u(nzx[xo + k])
                        xd = x[xo + d]
                        near |= rest_near[li, d] != 0
                        for j in range(_u(rowptr[_u(base + d)]), _u(rowptr[_u(base + d + 1)])):
                            c = col[j]
                            acc[c] += xd * val[j]
                            mark[uro + (c if c < uF else c - uF)] |= 2
                            reached = True
                    if not reached:  # only the units on at rest are on: their h W2 is rest_out[li]
                        if _add(x, xo, rest_flat, _u(li * D), rest_nzf, _u(li * D), layers[li, 12], xm, mo):
                            nnzx[b] = _listed(xm, mo, Dm, nzx, xo)
                        continue
                    nnz = 0
                    for w in range(ro >> 3, (ro + F + 7) >> 3):  # the marked units, ascending, 8 at a time
                        bits = mark8[w]
                        if bits == 0:
                            continue
                        mark8[w] = bits & LOW  # every mark &= 1 (marks are 0..3: bit 0 at rest, bit 1 reached)
                        # bit 8k set: unit k of the word is to be evaluated (marked; reached only, if not near)
                        set_ = ((bits | (bits >> one)) if near else (bits >> one)) & LOW
                        while set_ != 0:
                            u = _u(8 * w - ro) + (_ctz(set_) >> three)
                            set_ &= set_ - one
                            p = acc[u] + bias[ubo + u]
                            g = acc[uF + u] + bias[ubo + uF + u]
                            acc[u] = 0
                            acc[uF + u] = 0
                            hu = (zero if p <= 0 else p) * g  # ReLU keeps NaN, as torch.relu
                            if hu != 0:
                                h[u] = hu
                                nzh[nnz] = u
                                nnz += 1
                    no = _scatter_out(h, _u(0), nzh, _u(0), nnz, layers[li, 6], mats, rowptr, col, val, acc, omark,
                                      olist)
                    changed = _residual(x, xo, acc, olist, no, omark, xm, mo)
                    if not near:  # the units on at rest stayed at rest: their outputs are rest_out's (others')
                        changed |= _add(x, xo, rest_flat, _u(li * D), rest_nzf, _u(li * D), layers[li, 12], xm, mo)
                    if changed:
                        nnzx[b] = _listed(xm, mo, Dm, nzx, xo)
        if not emit:
            continue
        all_done = True
        bo = mats[readout, 3]
        for b in range(B):
            if not on[b]:
                out_tok[i, b] = 0  # a filler: the row's tokens end where it stopped
                continue
            # logits x W_out + b_out, argmax (the first maximum, or the first NaN, as torch): the outputs an
            # input reached are computed; every other one is its bias, the best of them first in rest_order
            xo = _u(b * D)
            nt = _scatter_out(x, xo, nzx, xo, nnzx[b], readout, mats, rowptr, col, val, acc, omark, olist)
            best, bi = zero, -1
            for k in range(rest_order.shape[0]):
                v = rest_order[k]
                if omark[v] == 0:
                    best, bi = bias[bo + v], v
                    break
            for k in range(nt):
                v = olist[k]  # signed: compared with bi below (a mixed comparison would go through float64)
                uv = _u(v)
                lg = acc[uv] + bias[_u(bo) + uv]
                acc[uv] = 0
                omark[uv] = 0
                if bi >= 0 and lg < best:  # the usual case, and never a change (false when either is NaN)
                    continue
                if bi < 0 or (lg != lg and (best == best or v < bi)) or (
                        best == best and (lg > best or (lg == best and v < bi))):
                    best, bi = lg, v
            tok[b] = bi
            out_tok[i, b] = bi
            for s in range(stops.shape[0]):
                if stops[s] == bi:
                    done[b] = True
            all_done = all_done and done[b]
        if all_done:
            _held((ev, pend, nxt, cand, cs, pos, vmax, nk, nv, q, qrow, out_f, out_i, res_f, res_i, hints, rows_on))
            return i + 1
    _held((ev, pend, nxt, cand, cs, pos, vmax, nk, nv, q, qrow, out_f, out_i, res_f, res_i, hints, rows_on))
    return n


@njit(cache=True)
def _held(arrays) -> None:
    """Nothing: called with the arrays that decode lends to the hull kernels, so that they live until then (numba
    frees a variable after its last use, and a borrowed view does not count as one)."""
    return None


UPFRONT_BYTES = 2**30  # per cache: what an engine that knows its length reserves at once


def _first_capacity(rows: int, value_dim: int, dtype, capacity: int, max_positions: int | None) -> int:
    """A cache's first capacity: all of ``max_positions`` when that fits in UPFRONT_BYTES, else ``capacity``.

    Reserving the known length at once saves the doublings: each one copies
    the cache and touches fresh pages (the kernel zeroes them), about a
    tenth of a long single-stream run.  Pages no position reaches are never
    touched, so a bound that is not reached costs address space only.
    """
    if max_positions is None:
        return capacity
    return max(capacity, min(max_positions, UPFRONT_BYTES // HullCache.position_bytes(rows, value_dim, dtype)))


class Engine:
    """The native decode of one batch: the packed weights, one HullCache per attention layer, the positions so far."""

    def __init__(self, model, batch: int, max_positions: int | None = None, capacity: int = 256):
        if model.tok_emb.dtype not in DTYPES:
            raise ValueError(f"the native engine runs float32 and float64, not {model.tok_emb.dtype}")
        if sys.byteorder != "little":  # _listed reads 8 flag bytes as one little-endian word
            raise ValueError("the native engine runs on little-endian CPUs only")
        self.w = packed(model)
        dt = model.tok_emb.dtype
        # one hull cache per attention layer: a row per (batch row, key group), the group's values side by side
        self.caches = [HullCache(batch, int(r[8]), int(r[9] * r[1]), dtype=dt, device="cpu",
                                 capacity=_first_capacity(batch * int(r[8]), int(r[9] * r[1]), dt, capacity,
                                                          max_positions),
                                 max_positions=max_positions) for r in self.w.layers if r[0] > 0]
        self.batch = batch
        self.fallbacks = np.zeros(len(self.caches), np.int64)
        self.heads = int(self.w.layers[:, 0].sum())
        self._lists, self._keys_seen = None, []

    _FIELDS = ("_keys", "_vals", "_vhash", "_gxy", "_ist", "_box", "_meta", "_aid", "_axy")

    def _state(self, n: int) -> list:
        """The caches' arrays as typed lists (made again only when reserving room for n positions moved them)."""
        for c in self.caches:
            c.reserve(len(c) + n)
        keys = [a for c in self.caches for a in (c._keys, c._vals)]  # the value arena grows on its own
        if self._lists is None or any(a is not b for a, b in zip(keys, self._keys_seen)):
            self._lists = [List([getattr(c, name) for c in self.caches]) for name in self._FIELDS]
            self._keys_seen = keys
        return self._lists

    def _run(self, feed: np.ndarray, pos0: np.ndarray, n: int, emit: bool, stops, done, outs):
        lists = self._state(n)
        c0 = self.caches[0]
        w = self.w
        ran = decode(w.tok_emb, w.pos_emb, w.layers, w.hmap, w.mats, w.rowptr, w.col, w.val, w.bias, w.rest,
                     w.rest_out, w.rest_nz, w.rest_order, w.emb_ptr, w.emb_idx, w.readout, w.rest_near,
                     w.prompt_live,
                     *lists, c0._eps, c0._eta, self.fallbacks, feed, pos0, n, emit, stops, done, *outs)
        for c, vhash, aid, axy in zip(self.caches, lists[2], lists[7], lists[8]):  # arena, table: maybe reallocated
            c._vhash, c._aid, c._axy = vhash, aid, axy
        return ran

    def prefill(self, tokens: np.ndarray, pos0: np.ndarray) -> None:
        """Feed a prompt (B, P) without reading anything out."""
        B, P = tokens.shape
        dt = self.w.tok_emb.dtype
        outs = (np.empty((0, B), np.int64), np.empty((0, B, 0), np.int64), np.empty((0, B, 0), dt),
                np.empty((0, B, 0), dt))
        self._run(np.ascontiguousarray(tokens, np.int64), pos0, P, False, np.empty(0, np.int64),
                  np.zeros(B, np.bool_), outs)

    def decode(self, token: np.ndarray, pos0: np.ndarray, n: int, stops: np.ndarray, done: np.ndarray, into=None):
        """Up to n argmax steps from ``token`` (B,): (tokens (k, B), selected, margin, best (k, B, heads)).

        ``into``: (selected, margin, best) arrays of at least (n, B, heads) to write those three to (C-contiguous:
        e.g. a slice of a caller's buffer along its first axis); the views returned are theirs.
        """
        B = self.batch
        dt = self.w.tok_emb.dtype
        if into is None:
            into = (np.empty((n, B, self.heads), np.int64), np.empty((n, B, self.heads), dt),
                    np.empty((n, B, self.heads), dt))
        outs = (np.empty((n, B), np.int64), *(a[:n] for a in into))
        k = self._run(np.ascontiguousarray(token.reshape(B, 1), np.int64), pos0, n, True, stops, done, outs)
        return tuple(o[:k] for o in outs)
