"""Differential fuzzing throughput: N smith modules through wasmtime and the reference interpreter.

Usage: python benchmarks/bench_smith_diff.py [N] [SEED]   (default 200 modules, seed 0)
Prints modules compared, skipped, calls, mismatches (with the first few) and modules/second.
"""
from __future__ import annotations

import random
import sys
import time

from harness.smith_diff import diff_bytes


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    rng = random.Random(seed)
    compared = skipped = calls = 0
    bad = []
    t0 = time.perf_counter()
    for i in range(n):
        data = rng.randbytes(rng.randrange(64, 4096))
        report = diff_bytes(data, seed=i)
        calls += report.calls
        if report.skipped and not report.mismatches:
            skipped += 1
        else:
            compared += 1
        if report.mismatches:
            bad.append((i, report.mismatches[0]))
    elapsed = time.perf_counter() - t0
    print(f"modules {n}  compared {compared}  skipped {skipped}  calls {calls}  "
          f"mismatching modules {len(bad)}  {n / elapsed:.1f} modules/s")
    for i, m in bad[:10]:
        print(f"  module {i}: {m.where} {m.args}: reference {m.reference!r} wasmtime {m.wasmtime!r}")


if __name__ == "__main__":
    main()
