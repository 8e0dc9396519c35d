"""Numba kernels behind ``HullCache`` (see hull.py for the design and the proofs).

State of one cache, all flat arrays so that one call serves every
(batch row, head) pair ``r`` of a layer (R = B * H of them):

  keys   (R, cap, 2)  dtype   key of each position
  vals   (R*cap, Dv)  dtype   the distinct values (bit patterns) so far, in the
                              order they came: position j of row r has value
                              vals[ist[r, j, PVAL]] (rows past meta[M_NV] unused)
  vhash  int32        open-addressing table of the ids in vals (-1: empty),
                      power-of-two size, at most half full (grown by doubling)
  gxy    (R, cap, 2)  dtype   location of each group (distinct key)
  ist    (R, cap, 9)  int32   per position j: [PGRP] group, [PNEXT] next position
                              of the same group, [PVAL] value id; per group g: [GCNT] positions,
                              [GFIRST], [GLAST], [GLAYER] 0..K-1 or K (= rest),
                              [GFLAGS] bit 0 upper chain, bit 1 lower chain,
                              [GSTAMP] last query that put g into its candidates
  box    (R, 3)       float64 max |x|, max |y| over all keys; [2] 1 once a key is not
                      a pair of integers (0 while every key is)
  meta   int64        [M_USED] arena slots used, [M_T] positions, [M_STAMP]
                      query counter, [M_K] layers, [M_NV] distinct values; then per r a block of
                      RB = 4 + 6K: [0] groups, [1] groups in the rest, then per
                      (layer, chain) (offset, length, capacity) in the arena
  aid    int32        arena of chain slots: group ids
  axy    dtype        arena of chain slots: x, y (2 per slot)

Predicates (orientation, sign of q . (b - a)) are exact (error-bounded
filter, then an exact expansion sum) for inputs whose magnitudes lie in
[2**-300, 2**300] or are 0; float32 inputs are always in range.  They and
the exact scores run in float64 whatever the cache's dtype: every
conversion is ``np.float64(x)``, never ``float(x)``, which numba compiles
to a no-op on a float32 (float32 predicates then ran in float32 against
float64 error bounds, and a float32 hull could miss a tie).

Values are stored once per distinct bit pattern: a position keeps an id.
The compiled model's values are mostly repeats (about 10% of its positions
bring a new one on a long loop, and most entries are 0), and a value row is
most of a position's bytes (245 of the 253 floats over its 5 caches): a long
run touches a fraction of the fresh memory it did, and fresh pages cost the
kernel a zeroing each (on a virtual machine, the host's first touch too).
A look-up reads vals[ist[r, j, PVAL]], the same bits as before.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

U = 2.0**-53  # float64 unit roundoff

PGRP, PNEXT, GCNT, GFIRST, GLAST, GLAYER, GFLAGS, GSTAMP, PVAL = range(9)
IST_W = 9  # int32 fields per ist entry
M_USED, M_T, M_STAMP, M_K, M_NV = 0, 1, 2, 3, 4
META_HEAD = 8
MAX_ROUNDS = 16


def rb_size(k: int) -> int:
    return 4 + 6 * k


@intrinsic
def _borrow(typingctx, arr):
    """The same array (data, shape, strides) without its reference count: for the caller's own use only.

    Every jitted call with array arguments (where numba cannot prove the
    counts away: a callee with loops) increments and decrements each array's
    count atomically, about 40 cycles per array per call; a borrowed array
    has none to count (the increment / decrement only test for it).  The
    caller must hold the real array for as long as the borrowed one is used,
    and never return or store a borrowed one.
    """
    def codegen(context, builder, sig, args):
        src = make_array(sig.args[0])(context, builder, args[0])
        out = make_array(sig.return_type)(context, builder)
        populate_array(out, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize, meminfo=None)
        return out._getvalue()
    return arr(arr), codegen


@intrinsic
def _bits(typingctx, x):
    """The bit pattern of a float64 (as int64) or float32 (as int32): values are told apart by their bits, so that
    -0 and +0 stay two values and a NaN equals itself."""
    width = x.bitwidth
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(width))
    return (types.int64 if width == 64 else types.int32)(x), codegen


VHASH_MIN = 1024  # first size of a cache's value table


@njit(cache=True, inline="always")
def _mix(h):
    h ^= h >> np.uint64(31)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    return h ^ (h >> np.uint64(29))


@njit(cache=True, inline="always")
def _hash_term(v, d):
    """Entry d's term of a value's hash: the hash is the sum of its entries' terms (independent products, no chain
    of multiplies), then mixed (_mix); _vhash_of and _vhash_row must agree, so both sum these."""
    return np.uint64(np.int64(_bits(v))) * np.uint64(0x9E3779B97F4A7C15 + 2 * d)


@njit(cache=True, inline="always")
def _vhash_of(src, p, r, dv):
    """The hash of the bits of src[p, r, :dv] (a value being appended)."""
    h = np.uint64(0)
    for d in range(dv):
        h += _hash_term(src[p, r, d], d)
    return _mix(h)


@njit(cache=True)
def _vhash_row(vals, i):
    """The hash of row i of vals (a stored value: rehash)."""
    h = np.uint64(0)
    for d in range(vals.shape[1]):
        h += _hash_term(vals[i, d], d)
    return _mix(h)


@njit(cache=True)
def rehash(vals, nv, size):
    """A value table of ``size`` slots (a power of two) holding the ids 0..nv-1 of vals."""
    table = np.full(size, -1, np.int32)
    mask = np.uint64(size - 1)
    for i in range(nv):
        k = _vhash_row(vals, i) & mask
        while table[k] >= 0:
            k = (k + np.uint64(1)) & mask
        table[k] = i
    return table


@njit(cache=True, inline="always")
def _value_id(vals, vhash, meta, src, p, r):
    """The id of value src[p, r] in vals (added if its bits are new); returns (id, vhash: grown if it had to)."""
    dv = vals.shape[1]
    mask = np.uint64(vhash.shape[0] - 1)
    k = _vhash_of(src, p, r, dv) & mask
    while True:
        i = vhash[k]
        if i < 0:
            break
        same = True
        for d in range(dv):
            if _bits(vals[i, d]) != _bits(src[p, r, d]):
                same = False
                break
        if same:
            return np.int64(i), vhash
        k = (k + np.uint64(1)) & mask
    nv = meta[M_NV]
    for d in range(dv):
        vals[nv, d] = src[p, r, d]
    vhash[k] = nv
    meta[M_NV] = nv + 1
    if 2 * (nv + 1) > vhash.shape[0]:
        vhash = rehash(vals, nv + 1, 2 * vhash.shape[0])
    return nv, vhash


# -- exact arithmetic -------------------------------------------------------
@njit(cache=True)
def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (LLVM's fma: one instruction where the CPU has it, a correct library call elsewhere)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        f64 = ir.DoubleType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f64], ir.FunctionType(f64, [f64, f64, f64]))
        return builder.call(fn, args)
    return sig, codegen


@njit(cache=True)
def _two_prod(a, b):
    """(p, e) with p = fl(a * b) and p + e = a * b exactly (the error of a rounded product is representable
    unless it underflows: the kernels' inputs are in [2**-300, 2**300] or 0).  Dekker's split gave the same e
    in 17 operations; a fused multiply-add gives it in one."""
    a, b = np.float64(a), np.float64(b)
    p = a * b
    return p, _fma(a, b, -p)


@njit(cache=True)
def _expansion_sign(t, n):
    """Sign of the exact sum of t[0..n) (Shewchuk's grow-expansion with zero elimination)."""
    h = np.empty(n)
    m = 0
    for i in range(n):
        q = t[i]
        k = 0
        for j in range(m):
            q, e = _two_sum(q, h[j])
            if e != 0.0:
                h[k] = e
                k += 1
        if q != 0.0:
            h[k] = q
            k += 1
        m = k
    if m == 0:
        return 0
    return 1 if h[m - 1] > 0.0 else -1


@njit(cache=True)
def _orient_exact(ax, ay, bx, by, cx, cy):
    t = np.empty(12)
    t[0], t[1] = _two_prod(ax, by)
    t[2], t[3] = _two_prod(-ax, cy)
    t[4], t[5] = _two_prod(-cx, by)
    t[6], t[7] = _two_prod(-ay, bx)
    t[8], t[9] = _two_prod(ay, cx)
    t[10], t[11] = _two_prod(cy, bx)
    return _expansion_sign(t, 12)


@njit(cache=True, inline="always")
def _orient(ax, ay, bx, by, cx, cy):
    """Sign of the orientation of (a, b, c): +1 counter-clockwise, -1 clockwise, 0 collinear (exact).

    The filter runs in float64 whatever the keys' dtype: its error bound is float64's.
    """
    ax, ay, bx, by, cx, cy = np.float64(ax), np.float64(ay), np.float64(bx), np.float64(by), np.float64(cx), np.float64(cy)
    left = (ax - cx) * (by - cy)
    right = (ay - cy) * (bx - cx)
    det = left - right
    bound = 3.3306690738754716e-16 * (abs(left) + abs(right))
    if det > bound:
        return 1
    if -det > bound:
        return -1
    return _orient_exact(ax, ay, bx, by, cx, cy)


@njit(cache=True, inline="always")
def _escore(q0, q1, x, y):
    """q0*x + q1*y in float64 to within err (estimate, err); exact products."""
    h0, l0 = _two_prod(q0, x)
    h1, l1 = _two_prod(q1, y)
    s, t = _two_sum(h0, h1)
    e = s + (t + (l0 + l1))
    return e, 1.01 * (U * abs(e) + 4.0 * U * U * (abs(h0) + abs(h1)))


@njit(cache=True)
def _rise_exact(q0, q1, x0, y0, x1, y1):
    t = np.empty(8)
    t[0], t[1] = _two_prod(q0, x1)
    t[2], t[3] = _two_prod(q1, y1)
    t[4], t[5] = _two_prod(-q0, x0)
    t[6], t[7] = _two_prod(-q1, y0)
    return _expansion_sign(t, 8)


@njit(cache=True, inline="always")
def _rise(q0, q1, x0, y0, x1, y1):
    """Sign of q . (p1 - p0), exact."""
    # plain-float filter: d = (a1 + b1) - (a0 + b0) is within 2.0001 u S + 1.0001 u |d| of the exact
    # difference (S: the four products' magnitudes), so |d| > 4 u S decides the sign; the absolute
    # term covers products that underflow; inf / NaN fail both tests and go on
    a0, b0, a1, b1 = q0 * x0, q1 * y0, q0 * x1, q1 * y1
    d = (a1 + b1) - (a0 + b0)
    bound = 4.0 * U * (abs(a0) + abs(b0) + abs(a1) + abs(b1)) + 1e-300
    if d > bound:
        return 1
    if -d > bound:
        return -1
    e0, r0 = _escore(q0, q1, x0, y0)
    e1, r1 = _escore(q0, q1, x1, y1)
    d = e1 - e0
    if abs(d) > 1.01 * (r0 + r1) + 2.0 * U * abs(d):
        return 1 if d > 0 else -1
    return _rise_exact(q0, q1, x0, y0, x1, y1)


# -- arena ------------------------------------------------------------------
@njit(cache=True, inline="always")
def _grow_i32(a, need):
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    for i in range(a.shape[0]):
        b[i] = a[i]
    return b


@njit(cache=True, inline="always")
def _reserve(meta, aid, axy, c, need):
    """Make chain slot block c (index into meta) hold `need` slots; may move it / grow the arena."""
    cap = meta[c + 2]
    if need <= cap:
        return aid, axy
    newcap = max(8, 2 * cap, need)
    off = meta[M_USED]
    if off + newcap > aid.shape[0]:
        size = max(2 * aid.shape[0], off + newcap)
        a2 = np.empty(size, aid.dtype)
        x2 = np.empty(2 * size, axy.dtype)
        for i in range(off):
            a2[i] = aid[i]
            x2[2 * i] = axy[2 * i]
            x2[2 * i + 1] = axy[2 * i + 1]
        aid, axy = a2, x2
    old, n = meta[c], meta[c + 1]
    for i in range(n):
        aid[off + i] = aid[old + i]
        axy[2 * (off + i)] = axy[2 * (old + i)]
        axy[2 * (off + i) + 1] = axy[2 * (old + i) + 1]
    meta[c] = off
    meta[c + 2] = newcap
    meta[M_USED] = off + newcap
    return aid, axy


@njit(cache=True, inline="always")
def _lower_bound(axy, off, n, px):
    """First k < n with x[k] >= px (n if none): O(1) for a key right of the chain (most appends), else a binary
    search."""
    if n == 0 or axy[2 * (off + n - 1)] < px:
        return n
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) >> 1
        if axy[2 * (off + mid)] < px:
            lo = mid + 1
        else:
            hi = mid
    return lo


# -- insertion-only hull chains -----------------------------------------------
@njit(cache=True, inline="always")
def _chain_insert(aid, axy, off, n, side, g, px, py, k, ev, ne):
    """Insert group g at (px, py) into a chain (side +1 upper, -1 lower); k = lower bound of px.

    Returns (new length, inserted?, evicted count); evicted group ids go to ev[ne:].
    Capacity for n + 1 slots must be reserved.  Collinear points are dropped (strict hull).
    """
    if k < n and axy[2 * (off + k)] == px:
        if side * (py - axy[2 * (off + k) + 1]) <= 0:
            return n, False, ne
        left, right = k - 1, k + 1
        ev[ne] = aid[off + k]
        ne += 1
    else:
        left, right = k - 1, k
        if left >= 0 and right < n:
            o = _orient(axy[2 * (off + left)], axy[2 * (off + left) + 1], px, py, axy[2 * (off + right)], axy[2 * (off + right) + 1])
            if side * o >= 0:
                return n, False, ne
    while left >= 1:
        a, b = off + left - 1, off + left
        if side * _orient(axy[2 * a], axy[2 * a + 1], axy[2 * b], axy[2 * b + 1], px, py) >= 0:
            ev[ne] = aid[b]
            ne += 1
            left -= 1
        else:
            break
    while right <= n - 2:
        a, b = off + right, off + right + 1
        if side * _orient(px, py, axy[2 * a], axy[2 * a + 1], axy[2 * b], axy[2 * b + 1]) >= 0:
            ev[ne] = aid[a]
            ne += 1
            right += 1
        else:
            break
    shift = left + 2 - right
    if shift > 0:
        for i in range(n - 1, right - 1, -1):
            aid[off + i + shift] = aid[off + i]
            axy[2 * (off + i + shift)] = axy[2 * (off + i)]
            axy[2 * (off + i + shift) + 1] = axy[2 * (off + i) + 1]
    elif shift < 0:
        for i in range(right, n):
            aid[off + i + shift] = aid[off + i]
            axy[2 * (off + i + shift)] = axy[2 * (off + i)]
            axy[2 * (off + i + shift) + 1] = axy[2 * (off + i) + 1]
    aid[off + left + 1] = g
    axy[2 * (off + left + 1)] = px
    axy[2 * (off + left + 1) + 1] = py
    return n + shift, True, ne


@njit(cache=True, inline="always")
def _layer_insert(meta, aid, axy, base, layer, g, px, py, ev):
    """Insert group g into a layer's two chains. Returns (aid, axy, flags, evicted list, count)."""
    ne = 0
    flags = 0
    for ch in range(2):
        c = base + 4 + (2 * layer + ch) * 3
        aid, axy = _reserve(meta, aid, axy, c, meta[c + 1] + 1)
        off, n = meta[c], meta[c + 1]
        ev = _grow_i32(ev, ne + n + 2)
        k = _lower_bound(axy, off, n, px)
        n2, ins, ne2 = _chain_insert(aid, axy, off, n, 1 if ch == 0 else -1, g, px, py, k, ev, ne)
        meta[c + 1] = n2
        if ins:
            flags |= 1 << ch
        # mark evictions per chain: encode the chain in the sign of the stored id
        for i in range(ne, ne2):
            ev[i] = ev[i] if ch == 0 else -ev[i] - 1
        ne = ne2
    return aid, axy, flags, ev, ne


@njit(cache=True, inline="always")
def _find_dup(meta, axy, base, layer, px, py):
    """Slot index k and chain of a vertex at exactly (px, py) in this layer, or (-1, -1)."""
    for ch in range(2):
        c = base + 4 + (2 * layer + ch) * 3
        off, n = meta[c], meta[c + 1]
        k = _lower_bound(axy, off, n, px)
        if k < n and axy[2 * (off + k)] == px and axy[2 * (off + k) + 1] == py:
            return k, ch
    return -1, -1


@njit(cache=True)
def _append_row(r, j, keys, vals, gxy, ist, box, meta, aid, axy, base, K, ev, pend, nxt):
    """Add position j of row r (key and value already stored) to the groups and the layers."""
    px, py = keys[r, j, 0], keys[r, j, 1]
    if abs(px) > box[r, 0]:
        box[r, 0] = abs(np.float64(px))
    if abs(py) > box[r, 1]:
        box[r, 1] = abs(np.float64(py))
    if px != np.floor(px) or py != np.floor(py):  # NaN included
        box[r, 2] = 1.0
    ist[r, j, PNEXT] = -1
    g = meta[base]  # tentative new group
    layer = 0
    ne = 0
    flags = 0
    while layer < K:
        k, ch = _find_dup(meta, axy, base, layer, px, py)
        if k >= 0:
            c = base + 4 + (2 * layer + ch) * 3
            h = aid[meta[c] + k]
            ist[r, j, PGRP] = h
            ist[r, ist[r, h, GLAST], PNEXT] = j
            ist[r, h, GLAST] = j
            ist[r, h, GCNT] += 1
            return aid, axy, ev, pend, nxt
        aid, axy, flags, ev, ne = _layer_insert(meta, aid, axy, base, layer, g, px, py, ev)
        if flags != 0:
            break
        layer += 1
    # a new group
    meta[base] = g + 1
    gxy[r, g, 0] = px
    gxy[r, g, 1] = py
    ist[r, g, GCNT] = 1
    ist[r, g, GFIRST] = j
    ist[r, g, GLAST] = j
    ist[r, g, GLAYER] = layer
    ist[r, g, GSTAMP] = 0
    ist[r, j, PGRP] = g
    if layer == K:
        ist[r, g, GFLAGS] = 0
        meta[base + 1] += 1
        return aid, axy, ev, pend, nxt
    ist[r, g, GFLAGS] = flags
    # cascade the groups this insertion evicted down the layers
    npend = 0
    pend = _grow_i32(pend, ne)
    for i in range(ne):
        e = ev[i]
        h = e if e >= 0 else -e - 1
        ist[r, h, GFLAGS] &= ~(1 if e >= 0 else 2)
        if ist[r, h, GFLAGS] == 0:
            pend[npend] = h
            npend += 1
    layer += 1
    while npend > 0:
        nn = 0
        for i in range(npend):
            h = np.int64(pend[i])
            if layer == K:
                ist[r, h, GLAYER] = K
                meta[base + 1] += 1
                continue
            aid, axy, flags, ev, ne = _layer_insert(meta, aid, axy, base, layer, h, gxy[r, h, 0], gxy[r, h, 1], ev)
            ist[r, h, GLAYER] = layer
            ist[r, h, GFLAGS] = flags
            nxt = _grow_i32(nxt, nn + ne + 1)
            if flags == 0:
                nxt[nn] = h
                nn += 1
            for q in range(ne):
                e = ev[q]
                x = e if e >= 0 else -e - 1
                ist[r, x, GFLAGS] &= ~(1 if e >= 0 else 2)
                if ist[r, x, GFLAGS] == 0:
                    nxt[nn] = x
                    nn += 1
        pend, nxt = nxt, pend
        npend = nn
        layer += 1
    return aid, axy, ev, pend, nxt


# -- look-up ----------------------------------------------------------------
@njit(cache=True, inline="always")
def _cyc(meta, aid, axy, c0, i):
    """Group id and location of vertex i of a layer in counter-clockwise order (lower chain, then upper reversed)."""
    nl = meta[c0 + 3 + 1]
    if i < nl:
        s = meta[c0 + 3] + i
    else:
        s = meta[c0] + meta[c0 + 1] - 1 - (i - nl)
    return aid[s], axy[2 * s], axy[2 * s + 1]


@njit(cache=True, inline="always")
def _layer_max(meta, aid, axy, c0, q0, q1, hint):
    """Counter-clockwise index of a vertex of the layer maximising q . p (exact), or -1 if empty.

    The search on the chain is for the first edge (k, k+1) that does not rise
    (the edges rise, then stop rising: the chain is convex).  With ``hint``
    >= 0 (where that edge was for a query before) it gallops out from there,
    O(log distance) and near memory the last look-up touched; otherwise it
    is a binary search.  Both find the same edge.  Returns (index, edge).
    """
    nu, nl = meta[c0 + 1], meta[c0 + 3 + 1]
    if nu + nl == 0:
        return -1, -1
    up = q1 >= 0.0
    c = c0 if up else c0 + 3
    off, n = meta[c], meta[c + 1]
    lo, hi = 0, n - 1  # first k whose edge (k, k+1) does not rise
    if hint >= 0 and n > 1:
        k = min(hint, n - 2)
        if _edge_rises(axy, off, k, q0, q1):
            lo, step = k + 1, 1  # the answer is in (k, n - 1]: gallop right
            while lo + step - 1 < hi and _edge_rises(axy, off, lo + step - 1, q0, q1):
                lo += step
                step *= 2
            hi = min(hi, lo + step - 1)
        else:
            hi, step = k, 1  # the answer is in [0, k]: gallop left
            while hi - step >= lo and not _edge_rises(axy, off, hi - step, q0, q1):
                hi -= step
                step *= 2
            lo = max(lo, hi - step + 1)
    while lo < hi:
        mid = (lo + hi) >> 1
        if _edge_rises(axy, off, mid, q0, q1):
            lo = mid + 1
        else:
            hi = mid
    return (nl + (nu - 1 - lo) if up else lo), lo


@njit(cache=True, inline="always")
def _edge_rises(axy, off, k, q0, q1):
    a, b = off + k, off + k + 1
    return _rise(q0, q1, np.float64(axy[2 * a]), np.float64(axy[2 * a + 1]), np.float64(axy[2 * b]), np.float64(axy[2 * b + 1])) > 0


@njit(cache=True)
def _sparse_tree_sum(pos, m, T, vals, ist, r, acc, z):
    """Sum of the values of positions pos[:m] of row r by the fixed pairwise tree of tied_mean (pos sorted); result
    in acc[0]."""
    dv = vals.shape[1]
    idx = np.empty(m, np.int64)
    for i in range(m):
        idx[i] = pos[i]
    for i in range(m):
        vi = ist[r, pos[i], PVAL]
        for d in range(dv):
            acc[i, d] = vals[vi, d]
    levels = 0
    while (1 << levels) < T:
        levels += 1
    for _ in range(levels):
        i = 0
        w = 0
        while i < m:
            if i + 1 < m and (idx[i] >> 1) == (idx[i + 1] >> 1):
                for d in range(dv):
                    acc[w, d] = acc[i, d] + acc[i + 1, d]
                i += 2
            else:
                for d in range(dv):
                    acc[w, d] = acc[i, d] + z
                i += 1
            idx[w] = idx[i - 1] >> 1
            w += 1
        m = w


@njit(cache=True, inline="always")
def _finish(r, M, R, ntie, sel, pos, m, T, vals, ist, out_f, out_i, z, lazy):
    """Write out (mean over the m maximising positions pos[:m], sorted), margin, best score, selected, ties.

    ``lazy``: a single maximising position's value is not copied; its id goes to out_i[r, 2] (-1 when out_f
    holds the mean), and the reader takes vals[id] (+ 0 when T > 1, as the copy adds): out_i has 3 columns.
    """
    dv = vals.shape[1]
    if lazy:
        out_i[r, 2] = ist[r, pos[0], PVAL] if m == 1 else -1
    if m == 1:
        if not lazy:
            vi = ist[r, pos[0], PVAL]
            for d in range(dv):
                out_f[r, d] = (vals[vi, d] + z) if T > 1 else vals[vi, d]
    else:
        acc = np.empty((m, dv), vals.dtype)
        _sparse_tree_sum(pos, m, T, vals, ist, r, acc, z)
        cbuf = np.empty(1, vals.dtype)
        cbuf[0] = m
        cnt = cbuf[0]
        for d in range(dv):
            out_f[r, d] = acc[0, d] / cnt
    out_f[r, dv] = M - R
    out_f[r, dv + 1] = M
    out_i[r, 0] = sel
    out_i[r, 1] = ntie


@njit(cache=True)
def _scan_row(r, q0, q1, keys, vals, ist, T, out_f, out_i, z, ninf, pos, lazy=False):
    """The dense answer for row r (used when the hull cannot certify the runner-up)."""
    M = ninf
    for j in range(T):
        s = q0 * keys[r, j, 0] + q1 * keys[r, j, 1]
        if s > M:
            M = s
    R = ninf
    m = 0
    for j in range(T):
        s = q0 * keys[r, j, 0] + q1 * keys[r, j, 1]
        if s == M:
            pos[m] = j
            m += 1
        elif s > R:
            R = s
    _finish(r, M, R, m, pos[m - 1], pos, m, T, vals, ist, out_f, out_i, z, lazy)


@njit(cache=True, inline="always")
def _walk_layer(meta, aid, axy, c0, v, n, rho, q0, q1, dq0, dq1, stamp, ist, r, gxy, cand, cs, nc):
    """Put every vertex of the layer with q.p >= rho into the candidates (the arc around v).

    Returns (candidate count, frontier): frontier bounds q.p from above for the layer's
    vertices left out (-inf if none).  cand / cs hold room for every group of the row
    (query_rows sizes them), so that no array is returned per look-up (each one returned
    costs atomic reference counts).
    """
    front = -np.inf
    for direction in (-1, 1):
        i = v if direction == -1 else (v + 1) % n
        steps = 0
        while steps < n:
            g, x, y = _cyc(meta, aid, axy, c0, i)
            if ist[r, g, GSTAMP] != stamp:
                e, err = _escore(dq0, dq1, np.float64(x), np.float64(y))
                if e + err < rho:
                    front = max(front, e + err)
                    break
                ist[r, g, GSTAMP] = stamp
                cand[nc] = g
                cs[nc] = q0 * gxy[r, g, 0] + q1 * gxy[r, g, 1]
                nc += 1
            i = (i + direction) % n
            steps += 1
    return nc, front


@njit(cache=True)
def _down(x):
    return x - 4.0 * U * abs(x) - 1e-300


@njit(cache=True, inline="always")
def _query_row(r, q0, q1, keys, vals, gxy, ist, box, meta, aid, axy, base, K, cand, cs, pos, vmax, hints, hi, out_f, out_i,
               z, ninf, eps, eta, lazy):
    """Look up (q0, q1) in row r: the answer to out_f[r] / out_i[r]; returns whether it fell back to the scan.

    cand / cs hold room for every group of the row, pos for every position (query_rows sizes them);
    hints[hi]: where the query's maximum was last time, per layer (updated).
    """
    T = meta[M_T]
    dq0, dq1 = np.float64(q0), np.float64(q1)
    A = abs(dq0) * box[r, 0] + abs(dq1) * box[r, 1]
    B = 2.02 * eps * A + eta  # |float score - exact score| <= B for every cached key
    if (box[r, 2] == 0.0 and dq0 == np.floor(dq0) and dq1 == np.floor(dq1) and abs(dq0) * box[r, 0] * eps <= 1.0
            and abs(dq1) * box[r, 1] * eps <= 1.0):
        B = 0.0  # integer products within 1/eps (2^53, 2^24) are exact: s = fl(e), monotone in e (hull.py, step 3)
    errA = 1.02 * 4.0 * U * U * A + 1e-300
    meta[M_STAMP] += 1
    stamp = meta[M_STAMP]
    for i in range(K):
        vmax[i] = -2  # not searched yet
    c0 = base + 4
    v, hints[hi, 0] = _layer_max(meta, aid, axy, c0, dq0, dq1, hints[hi, 0])
    g, x, y = _cyc(meta, aid, axy, c0, v)
    e, err = _escore(dq0, dq1, np.float64(x), np.float64(y))
    vmax[0] = v
    rho = _down(e - err - 2.0 * B)
    # Any rho gives the same answer (it only decides how many points become candidates); one that
    # admits the runner-up from the start lets the first round certify it.  The runner-up is a
    # neighbour of v on layer 0 (q . p is unimodal around the layer) or layer 1's maximum (every other
    # point lies inside layer 1).
    n0 = meta[c0 + 1] + meta[c0 + 3 + 1]
    if n0 > 1:
        second = -np.inf
        for i in (v - 1 + n0, v + 1):
            g2, x2, y2 = _cyc(meta, aid, axy, c0, i % n0)
            e2, err2 = _escore(dq0, dq1, np.float64(x2), np.float64(y2))
            second = max(second, e2 - err2)
        if K > 1:
            c1 = base + 4 + 6
            if meta[c1 + 1] + meta[c1 + 3 + 1] > 0:
                vmax[1], hints[hi, 1] = _layer_max(meta, aid, axy, c1, dq0, dq1, hints[hi, 1])
                g2, x2, y2 = _cyc(meta, aid, axy, c1, vmax[1])
                e2, err2 = _escore(dq0, dq1, np.float64(x2), np.float64(y2))
                second = max(second, e2 - err2)
        rho = min(rho, _down(second - 2.0 * B))
    nc = 0
    for _ in range(MAX_ROUNDS):
        # report: every point with q.p >= rho is a candidate, or fall back
        front = -np.inf
        fallback = False
        for layer in range(K):
            cl = base + 4 + 6 * layer
            n = meta[cl + 1] + meta[cl + 3 + 1]
            if n == 0:
                break
            if vmax[layer] == -2:
                vmax[layer], hints[hi, layer] = _layer_max(meta, aid, axy, cl, dq0, dq1, hints[hi, layer])
            g, x, y = _cyc(meta, aid, axy, cl, vmax[layer])
            e, err = _escore(dq0, dq1, np.float64(x), np.float64(y))
            if e + err < rho:
                front = max(front, e + err)  # bounds this layer and every deeper point
                break
            nc, f = _walk_layer(meta, aid, axy, cl, vmax[layer], n, rho, q0, q1, dq0, dq1, stamp, ist, r, gxy, cand, cs, nc)
            front = max(front, f)
            if layer == K - 1 and meta[base + 1] > 0:
                fallback = True  # the rest (inside this layer) may hold candidates
        if fallback:
            break
        M = cs[0]
        for i in range(1, nc):
            if cs[i] > M:
                M = cs[i]
        R = ninf
        for i in range(nc):
            if cs[i] < M and cs[i] > R:
                R = cs[i]
        if R > -np.inf:
            rho2 = _down(np.float64(R) - B)
            if rho2 >= rho:
                _emit(r, M, R, cand, cs, nc, T, ist, vals, pos, out_f, out_i, z, lazy)
                return False
            rho = rho2
        else:
            if front == -np.inf:
                _emit(r, M, R, cand, cs, nc, T, ist, vals, pos, out_f, out_i, z, lazy)
                return False
            # the frontier point f has q.f >= front - 2 err_f; if it does not tie, R >= front - 2 err_f - B
            errf = 1.02 * U * abs(front) + errA
            rho = min(rho, _down(front - 2.0 * errf - 2.0 * B))
    _scan_row(r, q0, q1, keys, vals, ist, T, out_f, out_i, z, ninf, pos, lazy)
    return True


@njit(cache=True)
def _insertion_sort(a, m):
    # the groups' position lists are each sorted; k is small unless float32 ties by design
    for i in range(1, m):
        x = a[i]
        j = i - 1
        while j >= 0 and a[j] > x:
            a[j + 1] = a[j]
            j -= 1
        a[j + 1] = x


@njit(cache=True, inline="always")
def _emit(r, M, R, cand, cs, nc, T, ist, vals, pos, out_f, out_i, z, lazy):
    nw = 0
    ntie = 0
    sel = -1
    last = -1
    for i in range(nc):
        if cs[i] == M:
            g = cand[i]
            nw += 1
            last = g
            ntie += ist[r, g, GCNT]
            if ist[r, g, GLAST] > sel:
                sel = ist[r, g, GLAST]
    if ntie == 1:
        pos[0] = sel
    else:
        m = 0
        for i in range(nc):
            if cs[i] == M:
                j = ist[r, cand[i], GFIRST]
                while j >= 0:
                    pos[m] = j
                    m += 1
                    j = ist[r, j, PNEXT]
        if nw > 1:
            _insertion_sort(pos, m)
    _finish(r, M, R, ntie, sel, pos, ntie, T, vals, ist, out_f, out_i, z, lazy)


@njit(cache=True)
def append_rows(keys, vals, vhash, gxy, ist, box, meta, aid, axy, new_keys, new_vals, rows_on, ev, pend, nxt):
    """Append new_keys/new_vals (P, R, ...) to every row r with rows_on[r].

    A row left out is retired: it must never be looked up again (its new
    positions are not indexed).  ev / pend / nxt: int32 scratch (grown as
    needed).  Returns (aid, axy, vhash, ev, pend, nxt): the arena and the value table
    (possibly reallocated) and the scratch.
    """
    a2, x2, h2, e2, p2, n2 = _append_loop(_borrow(keys), _borrow(vals), _borrow(vhash), _borrow(gxy), _borrow(ist),
                                          _borrow(box), _borrow(meta), _borrow(aid), _borrow(axy), _borrow(new_keys),
                                          _borrow(new_vals), _borrow(rows_on), _borrow(ev), _borrow(pend), _borrow(nxt))
    # an array the loop grew is a new one (counted); any other is a borrowed view of one of ours: return ours
    return (_own(a2, aid, aid), _own(x2, axy, axy), _own(h2, vhash, vhash), _own(e2, ev, ev), _own(p2, pend, nxt),
            _own(n2, pend, nxt))


@njit(cache=True)
def _own(got, a, b):
    """got if it is a new array, else whichever of a / b it views (same data): never a borrowed one."""
    if got.ctypes.data == a.ctypes.data:
        return a
    if got.ctypes.data == b.ctypes.data:
        return b
    return got


@njit(cache=True)
def _append_loop(keys, vals, vhash, gxy, ist, box, meta, aid, axy, new_keys, new_vals, rows_on, ev, pend, nxt):
    """append_rows' loop, on borrowed arrays (see _borrow); the arena, table and scratch it returns may be borrowed."""
    R = keys.shape[0]
    K = meta[M_K]
    rb = 4 + 6 * K
    for p in range(new_keys.shape[0]):
        j = meta[M_T]
        for r in range(R):
            if not rows_on[r]:
                continue
            keys[r, j, 0] = new_keys[p, r, 0]
            keys[r, j, 1] = new_keys[p, r, 1]
            vi, vhash = _value_id(vals, vhash, meta, new_vals, p, r)
            ist[r, j, PVAL] = vi
            aid, axy, ev, pend, nxt = _append_row(r, j, keys, vals, gxy, ist, box, meta, aid, axy, META_HEAD + r * rb, K, ev, pend, nxt)
        meta[M_T] = j + 1
    return aid, axy, vhash, ev, pend, nxt


@njit(cache=True)
def query_rows(keys, vals, gxy, ist, box, meta, aid, axy, queries, qrow, out_f, out_i, res_f, res_i, copy, cand, cs, pos,
               vmax, hints, eps, eta):
    """Look up query i (queries (Q, 2)) in row qrow[i] (none if -1): several queries may share one row's keys.

    The answer is written to out_f[r, :Dv + 2] / out_i[r] of the row r, and with ``copy``
    to res_f[i] / res_i[i] as well.  cand / cs / pos / vmax: scratch (grown as needed).
    hints (Q, >= K): per query and convex layer, where its maximum was found last time (-1: no
    hint), so that a query that moves little between steps finds it again nearby; updated.
    Returns (fallbacks, cand, cs, pos): how many queries needed the linear scan, and the scratch.
    """
    K = meta[M_K]
    rb = 4 + 6 * K
    zb = np.empty(2, keys.dtype)
    zb[0] = 0.0
    zb[1] = -np.inf
    z, ninf = zb[0], zb[1]
    # room for every candidate (a group of the row) and every position (ties, the scan), made here so that
    # a look-up returns no array
    T = meta[M_T]
    groups = 0
    for i in range(queries.shape[0]):
        if qrow[i] >= 0:
            groups = max(groups, meta[META_HEAD + qrow[i] * rb])
    if cand.shape[0] < groups:
        cand = np.empty(max(groups, 2 * cand.shape[0]), cand.dtype)
        cs = np.empty(cand.shape[0], cs.dtype)
    if pos.shape[0] < T:
        pos = np.empty(max(T, 2 * pos.shape[0]), pos.dtype)
    fallbacks = _query_loop(_borrow(keys), _borrow(vals), _borrow(gxy), _borrow(ist), _borrow(box), _borrow(meta),
                            _borrow(aid), _borrow(axy), _borrow(queries), _borrow(qrow), _borrow(out_f), _borrow(out_i),
                            _borrow(res_f), _borrow(res_i), copy, _borrow(cand), _borrow(cs), _borrow(pos),
                            _borrow(vmax), _borrow(hints), eps, eta, K, rb, z, ninf, False)
    return fallbacks, cand, cs, pos


@njit(cache=True)
def _query_loop(keys, vals, gxy, ist, box, meta, aid, axy, queries, qrow, out_f, out_i, res_f, res_i, copy, cand, cs,
                pos, vmax, hints, eps, eta, K, rb, z, ninf, lazy):
    """query_rows' loop over the queries, on borrowed arrays (see _borrow).

    ``lazy`` (with ``copy``): a look-up with one maximising position copies only its margin and best score
    and gives its value's id in res_i[i, 2] (out_i, res_i: 3 columns; -1: the values are in res_f[i]).
    """
    dv = vals.shape[1]
    width = dv + 2
    fallbacks = 0
    for i in range(queries.shape[0]):
        r = qrow[i]
        if r < 0:  # no query
            continue
        fb = _query_row(r, queries[i, 0], queries[i, 1], keys, vals, gxy, ist, box, meta, aid, axy,
                        META_HEAD + r * rb, K, cand, cs, pos, vmax, hints, i, out_f, out_i, z, ninf, eps, eta, lazy)
        if fb:
            fallbacks += 1
        if copy:
            if lazy and out_i[r, 2] >= 0:
                res_f[i, dv] = out_f[r, dv]
                res_f[i, dv + 1] = out_f[r, dv + 1]
            else:
                for d in range(width):
                    res_f[i, d] = out_f[r, d]
            res_i[i, 0] = out_i[r, 0]
            res_i[i, 1] = out_i[r, 1]
            if lazy:
                res_i[i, 2] = out_i[r, 2]
    return fallbacks


@njit(cache=True)
def step(keys, vals, vhash, gxy, ist, box, meta, aid, axy, new_keys, new_vals, queries, out_f, out_i, hints, eps, eta):
    """Append new_keys/new_vals (P, R, ...) then, if queries has rows, look up queries (R, 2) (hints: query_rows).

    Returns (aid, axy, vhash, fallbacks): the arena and value table (possibly reallocated) and how many
    rows needed the linear scan.  Capacity for the new positions must be reserved by the caller.
    """
    ev, pend, nxt = np.empty(16, np.int32), np.empty(16, np.int32), np.empty(16, np.int32)
    aid, axy, vhash, ev, pend, nxt = append_rows(keys, vals, vhash, gxy, ist, box, meta, aid, axy, new_keys,
                                                 new_vals, np.ones(keys.shape[0], np.bool_), ev, pend, nxt)
    if queries.shape[0] == 0:
        return aid, axy, vhash, 0
    cand, cs = np.empty(64, np.int32), np.empty(64, keys.dtype)
    pos, vmax = np.empty(64, np.int64), np.empty(meta[M_K], np.int64)  # pos grown on demand (ties, scan)
    fb, cand, cs, pos = query_rows(keys, vals, gxy, ist, box, meta, aid, axy, queries, np.arange(keys.shape[0]),
                                   out_f, out_i, out_f, out_i, False, cand, cs, pos, vmax, hints, eps, eta)
    return aid, axy, vhash, fb


@njit(cache=True)
def scan(keys, vals, ist, T, queries, out_f, out_i):
    """The dense answer for every row, by a linear scan (reference for tests and benchmarks)."""
    zb = np.empty(2, keys.dtype)
    zb[0] = 0.0
    zb[1] = -np.inf
    z, ninf = zb[0], zb[1]
    pos = np.empty(max(T, 1), np.int64)
    for r in range(keys.shape[0]):
        _scan_row(r, queries[r, 0], queries[r, 1], keys, vals, ist, T, out_f, out_i, z, ninf, pos)
