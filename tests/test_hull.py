"""HullCache == dense hard-max attention, bit for bit (out, selected, ties, margin).

Streams of keys and queries drawn by hypothesis go through HullCache and a
plain scan (``dense_lookup`` below: the contract of base.py with the mean in
``tied_mean`` order).  The streams aim at what a convex hull gets wrong:
exact ties (repeated keys, integer grids, collinear keys on an edge
perpendicular to the query), near ties (keys one ulp apart), the model's
parabola (2j, -j^2) with and without a recency tilt, memory keys
(2w, pos - T w^2), huge query scales (1e10), float32 and float64.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from reference_model.attention import dense as dense_module
from reference_model.attention.base import Lookup
from reference_model.attention.dense import DenseCache
from reference_model.attention.hull import HullCache
from reference_model.attention.tied_mean import tied_mean

DTYPES = [torch.float64, torch.float32]


def dense_lookup(keys: torch.Tensor, values: torch.Tensor, queries: torch.Tensor) -> Lookup:
    """The contract by brute force: keys (B, H, T, 2), values (B, H, T, Dv), queries (B, H, 2)."""
    scores = queries[..., 0:1] * keys[..., 0] + queries[..., 1:2] * keys[..., 1]  # (B, H, T)
    best = scores.max(dim=-1).values
    hit = scores == best.unsqueeze(-1)
    idx = torch.arange(keys.shape[2])
    selected = torch.where(hit, idx, -1).max(dim=-1).values
    below = torch.where(hit, torch.full_like(scores, -torch.inf), scores).max(dim=-1).values
    return Lookup(tied_mean(hit, values), selected, hit.sum(dim=-1), best - below, best)


def assert_same(got: Lookup, want: Lookup, where: str) -> None:
    for name, a, b in zip(Lookup._fields, got, want):
        assert a.dtype == b.dtype and a.shape == b.shape, f"{where}: {name} {a.dtype}{tuple(a.shape)} vs {b.dtype}{tuple(b.shape)}"
        assert torch.equal(a, b), f"{where}: {name}\nhull  {a}\ndense {b}"


# -- streams ------------------------------------------------------------------
T_MEM = 2.0**22
T_LONG = 2.0**25


def key_of(kind: str, j: int, draw_int, dtype) -> tuple:
    """Key of position j for a stream kind; draw_int(lo, hi) supplies the randomness."""
    if kind in ("grid", "skew"):  # small integers: exact ties, repeats, collinear runs
        return float(draw_int(-3, 3)), float(draw_int(-3, 3))
    if kind == "cancel":  # big coordinates, small scores: product rounding decides the order
        base = (2.0**20 if dtype == torch.float64 else 2.0**8) * 16.0 ** draw_int(0, 2)
        return base + draw_int(-3, 3), -base + draw_int(-3, 3)
    if kind == "bigint":  # integers whose products are exact but whose sums round: the exact-product path (B = 0)
        base = 2.0**51 if dtype == torch.float64 else 2.0**22
        return base * draw_int(-1, 1) + draw_int(-3, 3), base * draw_int(-1, 1) + draw_int(-3, 3)
    if kind == "line":  # collinear keys, some repeated
        t = draw_int(-4, 4)
        return float(t), float(2 * t + 1)
    if kind == "parabola":
        return 2.0 * j, -float(j * j)
    if kind == "recency":  # parabola with a small recency tilt
        return 2.0 * j, -float(j * j) + j / 1024.0
    if kind == "memory":  # (2w, pos - T w^2): w = address + 1, 0 for no write
        w = draw_int(0, 4)
        return 2.0 * w, j - T_MEM * w * w
    if kind == "long":  # the -long configs' stack keys: T = 2^25, a cell near 2^14 written (|y| near 2^53)
        w = [0, 0, 1, 2, 3, 4, 16383][draw_int(0, 6)]
        return 2.0 * w, j - T_LONG * w * w
    if kind == "ulp":  # a few base points nudged by one ulp: near ties
        bx, by = [(1.0, 3.0), (3.0, 1.0), (2.0, 2.0)][draw_int(0, 2)]
        finfo = np.float32 if dtype == torch.float32 else np.float64
        x, y = finfo(bx), finfo(by)
        for _ in range(draw_int(0, 2)):
            x = np.nextafter(x, finfo(draw_int(0, 1) * 8 - 4))
        for _ in range(draw_int(0, 2)):
            y = np.nextafter(y, finfo(draw_int(0, 1) * 8 - 4))
        return float(x), float(y)
    # "random": floats of mixed magnitude
    return draw_int(-10**6, 10**6) / 997.0, draw_int(-10**6, 10**6) / 991.0


def query_of(kind: str, j: int, draw_int, dtype) -> tuple:
    if kind in ("parabola", "recency"):
        return float(draw_int(-2, j + 2)), 1.0
    if kind == "memory":
        return T_MEM * (draw_int(0, 4) + 1), 1.0
    if kind == "long":
        return T_LONG * [0, 1, 2, 3, 5, 16383][draw_int(0, 5)], 1.0
    if kind == "bigint":
        return float(draw_int(-7, 7)), float(draw_int(-7, 7))
    if kind == "cancel":
        c = draw_int(500, 1000) / 997.0
        tilt = 2.0**-40 if dtype == torch.float64 else 2.0**-16
        return c, c * (1.0 + draw_int(-8, 8) * tilt)
    if kind == "skew":  # nearly perpendicular to a grid line: rounding decides the ties
        a, b = 1e10 / draw_int(1, 9), 1e10 / draw_int(1, 9)
        return (a if draw_int(0, 1) else -a), (b if draw_int(0, 1) else -b)
    q = (float(draw_int(-3, 3)), float(draw_int(-3, 3)))
    if draw_int(0, 3) == 0:
        scale = [1e10, 1e-10, 3.0, 2.0**40][draw_int(0, 3)]
        q = (q[0] * scale, q[1] * scale)
    return q


KINDS = ["grid", "skew", "cancel", "line", "parabola", "recency", "memory", "long", "bigint", "ulp", "random"]


def run_stream(seed, dtype, kind, steps, batch, heads, dv) -> HullCache:
    rng = np.random.default_rng(seed)

    def draw_int(lo, hi):
        return int(rng.integers(lo, hi + 1))

    cache = HullCache(batch, heads, dv, dtype=dtype, device="cpu")
    keys, values = [], []
    for j in range(steps):
        k = torch.tensor([[key_of(kind, j, draw_int, dtype) for _ in range(heads)] for _ in range(batch)], dtype=dtype)
        v = torch.tensor([[[float(draw_int(-4, 4)) / 4 for _ in range(dv)] for _ in range(heads)] for _ in range(batch)], dtype=dtype)
        cache.append(k, v)
        keys.append(k)
        values.append(v)
        if j + 1 < steps and draw_int(0, 2) == 0:
            continue  # several appends between look-ups
        q = torch.tensor([[query_of(kind, j, draw_int, dtype) for _ in range(heads)] for _ in range(batch)], dtype=dtype)
        want = dense_lookup(torch.stack(keys, 2), torch.stack(values, 2), q)
        assert_same(cache.lookup(q), want, f"{kind} {dtype} step {j}")
    return cache


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(KINDS), steps=st.integers(1, 40),
       batch=st.integers(1, 2), heads=st.integers(1, 3), dv=st.integers(1, 3))
def test_hull_equals_dense(dtype, seed, kind, steps, batch, heads, dv):
    """A stream is (kind, shape, seed): hypothesis shrinks the length, the shape and the kind."""
    run_stream(seed, dtype, kind, steps, batch, heads, dv)


def test_float32_cancel_stream_keeps_its_three_way_tie():
    """Regression (found by the property test in session 8): a float32 'cancel' stream (big key
    coordinates, small scores) whose exact 3-way tie at step 25 the hull counted as 2.  numba compiles
    ``float(x)`` of a float32 to a float32, so the kernels' float64 predicates and exact scores ran in
    float32 against float64 error bounds: a layer's maximum was searched with the wrong sign of q.(b - a)."""
    run_stream(1, torch.float32, "cancel", 27, 1, 2, 1)


def test_kernels_predicates_run_in_float64_on_float32_keys():
    """The edge test behind every layer's maximum, on float32 coordinates: q.(b - a) = 3.97e-5 > 0, but the
    products (~3,500) rounded in float32 lose it.  The kernels must promote to float64 themselves."""
    from reference_model.attention import _hull_kernels as hk
    q = np.array([0.8676028251647949, 0.8675630688667297], np.float32)
    axy = np.array([4097.0, -4093.0, 4098.0, -4094.0], np.float32)
    assert hk._edge_rises(axy, 0, 0, q[0], q[1])
    e, err = hk._escore(q[0], q[1], axy[0], axy[1])
    assert abs(e - (float(q[0]) * 4097.0 - float(q[1]) * 4093.0)) <= err


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_many_ties_and_values_summed_in_tree_order(dtype):
    """Many positions tie; values of mixed magnitude make the summation order visible."""
    g = torch.Generator().manual_seed(1)
    cache = HullCache(1, 2, 3, dtype=dtype, device="cpu")
    keys, values = [], []
    for j in range(70):
        k = torch.tensor([[[1.0, 1.0], [float(j % 3), 0.0]]], dtype=dtype)
        v = (torch.randn(1, 2, 3, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(-6, 7, (1, 2, 3), generator=g)).to(dtype)
        cache.append(k, v)
        keys.append(k)
        values.append(v)
        q = torch.tensor([[[1.0, 2.0], [1.0, 0.0]]], dtype=dtype)
        assert_same(cache.lookup(q), dense_lookup(torch.stack(keys, 2), torch.stack(values, 2), q), f"step {j}")


def test_the_value_arena_grows_with_the_distinct_values_not_the_positions():
    """5 distinct value rows over 3,000 positions (grown from room for 4): the arena keeps room for the
    distinct values plus the positions being appended, not a row per position (a 17M-position run asked
    numpy for 30 GiB of value rows before); look-ups stay the dense scan's, before and after it moved."""
    rng = np.random.default_rng(3)
    cache = HullCache(1, 2, 3, dtype=torch.float64, device="cpu", capacity=4)
    table = torch.tensor(rng.integers(0, 256, size=(5, 1, 2, 3)), dtype=torch.float64)
    keys, values = [], []
    for j in range(3000):
        k = torch.tensor([[[2.0 * j, -float(j * j)], [float(rng.integers(0, 9)), float(j)]]], dtype=torch.float64)
        v = table[rng.integers(0, 5)]
        cache.append(k, v)
        keys.append(k)
        values.append(v)
        if j % 500 == 0 or j == 2999:
            q = torch.tensor([[[float(rng.integers(0, j + 1)), 1.0], [1.0, 0.5]]], dtype=torch.float64)
            assert_same(cache.lookup(q), dense_lookup(torch.stack(keys, 2), torch.stack(values, 2), q), f"step {j}")
    # room for the distinct values (at most 2 x 5) and for a flush of 256 pending positions of 2 rows, doubled;
    # a row per position would be 2 x 4096
    assert cache._keys.shape[1] == 4096 and cache._vals.shape[0] <= 2 * (10 + 2 * 256)


@pytest.mark.parametrize("kind", ["parabola", "memory", "long"])
def test_model_keys_never_need_the_scan_in_float64(kind):
    """The model's own read and memory keys are answered from the hull alone (no linear scan).

    "long": the -long configs' stack keys (T = 2^25), the memory size cell 16383 written first (|y| near 2^53, so
    the generic rounding bound is about 2), most cells written once and every token that writes nothing at w = 0:
    a read's runner-up is then the latest of those, 1 below the next.  Integer scores under 2^53 are exact, so
    the bound is 0 and the hull certifies it (before, every such read scanned: a quadratic run).
    """
    rng = np.random.default_rng(0)
    cache = HullCache(1, 2, 2, dtype=torch.float64, device="cpu")
    keys, values = [], []
    for j in range(600):
        if kind == "parabola":
            k = torch.tensor([[[2.0 * j, -float(j * j)]] * 2], dtype=torch.float64)
            q = torch.tensor([[[float(rng.integers(0, j + 1)), 1.0]] * 2], dtype=torch.float64)
        elif kind == "long":
            w = [16383.0] * 2 if j == 0 else rng.integers(1, 40, size=2) * (rng.random(2) < 0.05)
            k = torch.tensor([[[2.0 * w[h], j - T_LONG * float(w[h]) ** 2] for h in range(2)]], dtype=torch.float64)
            q = torch.tensor([[[T_LONG * float(rng.integers(1, 41)), 1.0] for _ in range(2)]], dtype=torch.float64)
        else:
            w = rng.integers(0, 40, size=2) * (rng.random(2) < 0.7)
            k = torch.tensor([[[2.0 * w[h], j - T_MEM * float(w[h]) ** 2] for h in range(2)]], dtype=torch.float64)
            q = torch.tensor([[[T_MEM * float(rng.integers(1, 41)), 1.0] for _ in range(2)]], dtype=torch.float64)
        v = torch.tensor(rng.integers(0, 256, size=(1, 2, 2)), dtype=torch.float64)
        cache.append(k, v)
        keys.append(k)
        values.append(v)
        got = cache.lookup(q)
        if j % 50 == 0 or j > 590:
            assert_same(got, dense_lookup(torch.stack(keys, 2), torch.stack(values, 2), q), f"step {j}")
    assert cache.fallbacks == 0


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_agrees_with_dense_cache(dtype):
    """Same answers as DenseCache; ``out`` bitwise wherever DenseCache's own sum order allows."""
    g = torch.Generator().manual_seed(2)
    hull = HullCache(2, 3, 4, dtype=dtype, device="cpu")
    dense = DenseCache(2, 3, 4, dtype=dtype, device="cpu")
    shared_mean = getattr(dense_module, "tied_mean", None) is tied_mean
    for j in range(150):
        k = torch.randint(-5, 6, (2, 3, 2), generator=g).to(dtype)
        v = torch.randn(2, 3, 4, generator=g, dtype=dtype)
        hull.append(k, v)
        dense.append(k, v)
        q = torch.randint(-5, 6, (2, 3, 2), generator=g).to(dtype) * 1e10
        a, b = hull.lookup(q), dense.lookup(q)
        for name in ("selected", "ties", "margin"):
            assert torch.equal(getattr(a, name), getattr(b, name)), f"step {j}: {name}"
        # with <= 2 winners every summation order gives the same bits
        rows = b.ties <= 2 if not shared_mean else torch.ones_like(b.ties, dtype=torch.bool)
        assert torch.equal(a.out[rows], b.out[rows]), f"step {j}: out"


def test_len_and_empty_lookup():
    cache = HullCache(1, 1, 1, dtype=torch.float64, device="cpu")
    with pytest.raises(ValueError):
        cache.lookup(torch.zeros(1, 1, 2, dtype=torch.float64))
    cache.append(torch.zeros(1, 1, 2, dtype=torch.float64), torch.full((1, 1, 1), -0.0, dtype=torch.float64))
    assert len(cache) == 1
    found = cache.lookup(torch.ones(1, 1, 2, dtype=torch.float64))
    assert found.selected.item() == 0 and found.ties.item() == 1 and math.isinf(found.margin.item())
    assert math.copysign(1.0, found.out.item()) == -1.0  # T == 1: no +0.0 from padding


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
def test_values_stored_once_per_bit_pattern_through_growth(dtype):
    """The value arena keeps one row per distinct bit pattern (-0 and +0 two, a NaN once), across the cache's
    doublings (capacity 16 -> 1,024) and the value table's (more than its 1,024 / 2 first slots): every look-up
    still gives dense's answer."""
    from reference_model.attention import _hull_kernels as hk

    g = torch.Generator().manual_seed(3)
    hull = HullCache(1, 2, 3, dtype=dtype, device="cpu", capacity=16)
    keys, vals = [], []
    special = torch.tensor([[0.0, 0.0, 0.0], [-0.0, 0.0, 0.0], [math.nan, 1.0, 2.0]], dtype=dtype)
    for j in range(700):
        k = torch.randint(-50, 51, (1, 2, 2), generator=g).to(dtype)
        v = torch.randn(1, 2, 3, generator=g, dtype=dtype)
        if j % 2:  # repeats of a few patterns between the new ones
            v = special[torch.randint(0, 3, (1, 2), generator=g)]
        hull.append(k, v)
        keys.append(k)
        vals.append(v)
        q = torch.randint(-50, 51, (1, 2, 2), generator=g).to(dtype)
        K, V = torch.stack(keys, dim=2), torch.stack(vals, dim=2)
        got, want = hull.lookup(q), dense_lookup(K, V, q)
        for name in ("selected", "ties", "margin", "best"):
            assert torch.equal(getattr(got, name), getattr(want, name)), f"step {j}: {name}"
        same = want.ties == 1  # a lone winner's value, bit for bit (NaN included)
        assert torch.equal(got.out[same].view(torch.uint8), want.out[same].view(torch.uint8)), f"step {j}: out"
    patterns = {tuple(row.view(torch.int64 if dtype == torch.float64 else torch.int32).tolist())
                for v in vals for row in v.reshape(-1, 3)}
    assert int(hull._meta[hk.M_NV]) == len(patterns) > hk.VHASH_MIN // 2
    assert hull._keys.shape[1] >= 700 and hull._vhash.shape[0] > hk.VHASH_MIN
