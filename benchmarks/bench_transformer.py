"""Decode speed of the compiled transformer: tokens/s and steps/s on a counting loop.

    .venv/bin/python benchmarks/bench_transformer.py [--steps 100000] [--batch 4] [--backend dense|hull]
        [--device cpu] [--dtype f64] [--threads 1]

The loop runs ~11 wasm instructions per iteration.  With the dense cache
every look-up scans all positions, so time grows quadratically with the
trace (11 tokens per step): 100,000 steps (1.1M tokens) is only practical
with an O(log t) backend; use --steps to measure dense at a size it can do.
"""
from __future__ import annotations

import argparse
import time

import torch
import wasmtime

from reference_model.compiler import vocabulary as vocab
from reference_model.program.binary import decode_module
from reference_model.program.decoding import decode_trace
from reference_model.program.encoding import encode_invocation
from reference_model.weights import compiled_model

LOOP = """(module (func (export "count") (param i32) (result i32) (local i32)
  block loop local.get 0 i32.eqz br_if 1 local.get 1 local.get 0 i32.add local.set 1
    local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end local.get 1))"""
STEPS_PER_ITER = 14


def run(model, prompts, max_tokens, backend):
    t = time.perf_counter()
    gen = model.generate([p.tokens for p in prompts], max_new_tokens=max_tokens, stop_tokens=vocab.STOP_TOKENS,
                         backend=backend)
    return gen, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--backend", default="dense")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f64")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = decode_module(wasmtime.wat2wasm(LOOP))
    n = max(1, a.steps // STEPS_PER_ITER)
    model = compiled_model(a.device, a.dtype)
    budget = (n + 2) * STEPS_PER_ITER * vocab.GROUP + 200
    for label, batch in (("single", 1), ("batched", a.batch)):
        prompts = [encode_invocation(m, m.exports["count"][1], [n - b], {}) for b in range(batch)]
        gen, dt = run(model, prompts, budget, a.backend)
        runs = [decode_trace(p, t) for p, t in zip(prompts, gen.tokens)]
        ok = all(r.outcome == "halt" and r.results == [((n - b) * (n - b + 1) // 2) & 0xFFFFFFFF] for b, r in enumerate(runs))
        tokens = sum(len(t) for t in gen.tokens)
        steps = sum(len(r.records) for r in runs)
        print(f"{label:8s} batch={batch} backend={a.backend} {a.device}-{a.dtype}: {steps} steps, {tokens} tokens in {dt:.1f}s"
              f" -> {tokens / dt:,.0f} tokens/s, {steps / dt:,.0f} steps/s, results {'ok' if ok else 'WRONG'}")


if __name__ == "__main__":
    main()
