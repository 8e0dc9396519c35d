"""Long memory traces on the hull configs: tokens/s and the hull's scan fallbacks, per config.

    .venv/bin/python benchmarks/bench_long_memory.py [--bytes 1024,4096] [--configs cpu-f64-hull,cpu-f64-hull-long]

One call per size and config: store N bytes (i32.store8 of a byte pattern),
then read them back and count the ones that differ (the result is 0).  The
trace is checked against the reference interpreter's (hash and result).
"fallbacks" counts the hull look-ups (batch row x key group, per attention
layer) that the certificate could not settle and that went to the linear
scan: each costs O(t), so a run with many is quadratic.  Before session 35's
exact-products bound the -long configs' reads of a stack cell written once
fell back on every step.
"""
from __future__ import annotations

import argparse
import time

import wasmtime

import reference_model.native as native
from harness.executors import make_executor
from reference_model.values import i32

PROBE = """(module (memory 1)
  (func (export "run") (param $n i32) (result i32) (local $i i32) (local $bad i32)
    (block $done (loop $fill
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (i32.store8 (local.get $i) (i32.add (i32.mul (local.get $i) (i32.const 7)) (i32.const 3)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $fill)))
    (local.set $i (i32.const 0))
    (block $done (loop $check
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (if (i32.ne (i32.load8_u (local.get $i))
                  (i32.and (i32.add (i32.mul (local.get $i) (i32.const 7)) (i32.const 3)) (i32.const 255)))
        (then (local.set $bad (i32.add (local.get $bad) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $check)))
    (local.get $bad)))"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bytes", default="1024,4096", help="sizes N, comma-separated")
    ap.add_argument("--configs", default="cpu-f64-hull,cpu-f64-hull-long")
    ap.add_argument("--max-steps", type=int, default=3_000_000)
    a = ap.parse_args()
    wasm = wasmtime.wat2wasm(PROBE)
    engines = []  # every native engine built, to read its fallback counters after the call
    init = native.Engine.__init__

    def recording(self, *args, **kw):
        init(self, *args, **kw)
        engines.append(self)

    native.Engine.__init__ = recording
    ref = make_executor("reference", trace=True)
    print(f"{'config':<20} {'bytes':>6} {'steps':>9} {'tokens':>10} {'seconds':>8} {'tokens/s':>9} "
          f"{'trace':>6} fallbacks per layer")
    for n in [int(x) for x in a.bytes.split(",")]:
        rs = ref.open_session()
        want = rs.invoke(rs.instantiate(wasm), "run", [i32(n)])
        for config in a.configs.split(","):
            ex = make_executor("transformer", config, max_steps=a.max_steps)
            s = ex.open_session()
            inst = s.instantiate(wasm)
            engines.clear()
            t = time.perf_counter()
            got = s.invoke(inst, "run", [i32(n)])
            dt = time.perf_counter() - t
            same = got.trace_hash == want.trace_hash and got.values == want.values
            fb = [int(x) for e in engines for x in e.fallbacks]
            print(f"{config:<20} {n:>6} {got.steps:>9,} {got.tokens:>10,} {dt:>8.1f} {got.tokens / dt:>9,.0f} "
                  f"{'same' if same else 'DIFF':>6} {fb}", flush=True)


if __name__ == "__main__":
    main()
