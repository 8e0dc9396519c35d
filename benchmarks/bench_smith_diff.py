"""Differential check throughput: N smith modules through wasmtime and the reference interpreter.

Usage: python benchmarks/bench_smith_diff.py [N] [SEED] [--jobs J]
       (default 200 modules, seed 0, one worker process per core)

Module i is built by wasm-tools smith from bytes drawn by ``random.Random(SEED)``
(the same sequence whatever J is, so a module is named by SEED and i and can
be re-run alone).  Workers are recycled every 200 modules to bound memory.
Prints modules compared, skipped, calls, mismatches (with the first few) and
modules per second (wall clock, all workers together).
"""
from __future__ import annotations

import argparse
import os
import random
import time
import multiprocessing

from harness.smith_diff import diff_bytes


def _check(item: tuple[int, bytes]):
    i, data = item
    report = diff_bytes(data, seed=i)
    return i, report.calls, report.skipped, report.mismatches[:1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n", nargs="?", type=int, default=200)
    ap.add_argument("seed", nargs="?", type=int, default=0)
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    items = [(i, rng.randbytes(rng.randrange(64, 4096))) for i in range(args.n)]
    compared = skipped = calls = 0
    bad, skips = [], {}
    t0 = time.perf_counter()
    # multiprocessing.Pool, not ProcessPoolExecutor: the latter's max_tasks_per_child hangs on Python 3.11
    with multiprocessing.get_context("spawn").Pool(args.jobs, maxtasksperchild=200) as pool:
        for done, (i, c, skip, mismatches) in enumerate(pool.imap(_check, items, chunksize=10), start=1):
            calls += c
            if skip and not mismatches:
                skipped += 1
                skips[skip] = skips.get(skip, 0) + 1
            else:
                compared += 1
            if mismatches:
                bad.append((i, mismatches[0]))
            if done % 1000 == 0:
                print(f"  {done}/{args.n} modules, {len(bad)} mismatching, {done / (time.perf_counter() - t0):.1f}/s",
                      flush=True)
    elapsed = time.perf_counter() - t0
    print(f"seed {args.seed}  modules {args.n}  compared {compared}  skipped {skipped}  calls {calls}  "
          f"mismatching modules {len(bad)}  {args.n / elapsed:.1f} modules/s ({args.jobs} workers, {elapsed:.0f} s)")
    for why, k in sorted(skips.items(), key=lambda kv: -kv[1]):
        print(f"  skipped {k}: {why}")
    for i, m in bad[:10]:
        print(f"  module {i}: {m.where} {m.args}: reference {m.reference!r} wasmtime {m.wasmtime!r} {m.message}")


if __name__ == "__main__":
    main()
