"""Per-step decode cost of the KV cache alone: HullCache vs DenseCache, by trace length.

One step = append one position + look up, for every head of a layer (one
native call for the hull).  Heads mimic the model: half are reads (keys
(2j, -j^2), query (p, 1) for a recent position p), half memory ports (keys
(2w, pos - 2^22 w^2) for writes to 64 addresses, query (2^22 (a+1), 1)).
Prints per-step microseconds at 1K, 10K, 100K and 1M positions (dense
is timed up to 100K and extrapolated linearly beyond), tokens/s single
stream and batched, and saves benchmarks/out/hull_vs_dense.png.

    python benchmarks/bench_hull.py [--heads 8] [--dv 4] [--batch 64]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from reference_model.attention.dense import DenseCache
from reference_model.attention.hull import HullCache

T_MEM = 2.0**22


def keys_for(positions: np.ndarray, heads: int, batch: int, rng) -> np.ndarray:
    """Keys (P, B, H, 2): heads [0, H/2) reads, the rest memory ports."""
    P = len(positions)
    k = np.empty((P, batch, heads, 2))
    j = positions[:, None].astype(np.float64)
    half = heads // 2
    k[:, :, :half, 0] = (2 * j)[:, :, None]
    k[:, :, :half, 1] = (-j * j)[:, :, None]
    w = rng.integers(1, 65, size=(P, batch, heads - half)) * (rng.random((P, batch, heads - half)) < 0.5)
    k[:, :, half:, 0] = 2.0 * w
    k[:, :, half:, 1] = positions[:, None, None] - T_MEM * w * w
    return k


def queries_for(t: int, heads: int, batch: int, rng) -> torch.Tensor:
    q = np.ones((batch, heads, 2))
    half = heads // 2
    q[:, :half, 0] = np.maximum(t - rng.integers(1, 20, size=(batch, half)), 0)
    q[:, half:, 0] = T_MEM * rng.integers(1, 65, size=(batch, heads - half))
    return torch.from_numpy(q)


def per_step(cls, length: int, steps: int, heads: int, dv: int, batch: int, rng) -> float:
    """Seconds per decode step at trace length ~length (prefilled, then `steps` timed steps)."""
    cache = cls(batch, heads, dv, dtype=torch.float64, device="cpu")
    fill = length - steps
    chunk = 1 << 16
    for start in range(0, fill, chunk):
        pos = np.arange(start, min(fill, start + chunk))
        k = torch.from_numpy(keys_for(pos, heads, batch, rng))
        v = torch.from_numpy(rng.integers(0, 256, size=(len(pos), batch, heads, dv)).astype(np.float64))
        if isinstance(cache, HullCache):
            cache.extend(k, v)
        else:
            for i in range(len(pos)):
                cache.append(k[i], v[i])
    ks = torch.from_numpy(keys_for(np.arange(fill, length), heads, batch, rng))
    vs = torch.from_numpy(rng.integers(0, 256, size=(steps, batch, heads, dv)).astype(np.float64))
    qs = [queries_for(fill + i, heads, batch, rng) for i in range(steps)]
    t0 = time.perf_counter()
    for i in range(steps):
        cache.append(ks[i], vs[i])
        cache.lookup(qs[i])
    dt = (time.perf_counter() - t0) / steps
    if isinstance(cache, HullCache) and cache.fallbacks:
        print(f"  (hull: {cache.fallbacks} row look-ups fell back to the scan)")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--dv", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lengths", default="1000,10000,100000,1000000")
    ap.add_argument("--dense-max", type=int, default=100000)
    a = ap.parse_args()
    torch.set_num_threads(1)  # single core: the figures are per core
    rng = np.random.default_rng(0)
    lengths = [int(x) for x in a.lengths.split(",")]
    per_step(HullCache, 300, 100, a.heads, a.dv, 1, rng)  # compile / load the kernels
    hull, dense = {}, {}
    print(f"per-step decode time, {a.heads} heads, Dv={a.dv}, float64, one batch row")
    print(f"{'length':>9} {'hull us':>10} {'dense us':>10}")
    for n in lengths:
        hull[n] = per_step(HullCache, n, 2000, a.heads, a.dv, 1, rng)
        if n <= a.dense_max:
            dense[n] = per_step(DenseCache, n, 200 if n <= 10000 else 30, a.heads, a.dv, 1, rng)
            d = f"{dense[n] * 1e6:10.1f}"
        else:
            m = max(dense)
            d = f"{dense[m] * n / m * 1e6:10.1f} (extrapolated)"
        print(f"{n:>9} {hull[n] * 1e6:10.2f} {d}")
    lo, hi = min(lengths), max(lengths)
    print(f"hull per-step ratio {hi} / {lo}: {hull[hi] / hull[lo]:.2f} (target <= 3)")
    print(f"cache alone, single stream: {1 / hull[lo]:,.0f} tokens/s at {lo}, {1 / hull[hi]:,.0f} at {hi}")
    b = per_step(HullCache, 10000, 300, a.heads, a.dv, a.batch, rng)
    print(f"cache alone, batch {a.batch}: {a.batch / b:,.0f} tokens/s at 10000 ({b * 1e6:.0f} us per step)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(list(hull), [v * 1e6 for v in hull.values()], "o-", label="hull")
    ax.loglog(list(dense), [v * 1e6 for v in dense.values()], "s-", label="dense")
    ax.set_xlabel("trace length (positions)")
    ax.set_ylabel("per-step time (us), append + look-up, all heads")
    ax.set_title(f"KV cache decode step, {a.heads} heads, float64")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    out = Path(__file__).parent / "out" / "hull_vs_dense.png"
    out.parent.mkdir(exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    print(f"plot: {out}")


if __name__ == "__main__":
    main()
