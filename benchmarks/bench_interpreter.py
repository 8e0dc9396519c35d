"""Steps per second of the reference interpreter, tracing off and on, on a loop-heavy program.

Usage: python benchmarks/bench_interpreter.py [ITERATIONS]   (default 1,000,000 untraced, 1/10 traced)
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from reference_model.interpreter import Store, invoke, load
from reference_model.values import i32

WAT = b"""(module
  (func (export "sum") (param $n i32) (result i32) (local $i i32) (local $s i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (local.get $s) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $s)))
"""


def wasm_tools() -> str:
    exe = Path(sys.executable).with_name("wasm-tools")
    return str(exe) if exe.exists() else "wasm-tools"


def run(n: int, trace: bool) -> tuple[int, float]:
    wasm = subprocess.run([wasm_tools(), "parse", "-"], input=WAT, capture_output=True, check=True).stdout
    store = Store()
    inst = store.instantiate(load(wasm), lambda m, f: None)
    t0 = time.perf_counter()
    result = invoke(store, inst.exports["sum"], [i32(n)], trace=trace)
    elapsed = time.perf_counter() - t0
    assert result.values[0].bits == (n * (n - 1) // 2) & 0xFFFFFFFF
    return result.steps, elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for trace, iters in ((False, n), (True, max(1, n // 10))):
        steps, elapsed = run(iters, trace)
        print(f"tracing {'on ' if trace else 'off'}: {iters:>9,} iterations, {steps:>11,} steps, "
              f"{elapsed:7.2f} s, {steps / elapsed:>12,.0f} steps/s")


if __name__ == "__main__":
    main()
