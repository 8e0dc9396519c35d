"""Decode speed of the compiled transformer: tokens/s and steps/s on a counting loop.

    .venv/bin/python benchmarks/bench_transformer.py [--steps 100000] [--batch 4] [--batched-steps 10000]
        [--backend dense|hull] [--weights sparse|dense] [--engine torch|native] [--workers 2]
        [--device cpu] [--dtype f64] [--threads 1]

Single stream: one call of --steps steps.  Batched: --batch calls of about
--batched-steps steps each, decoded together (0 skips it).  A progress bar
on stderr follows the first row.

The loop runs 13 trace records (wasm instructions) per iteration.  With the dense cache
every look-up scans all positions, so time grows quadratically with the
trace (11 tokens per step): 100,000 steps (1.1M tokens) is only practical
with an O(log t) backend; use --steps to measure dense at a size it can do.
"""
from __future__ import annotations

import argparse
import time

import torch
import wasmtime
from rich.console import Console
from rich.progress import Progress, TextColumn

from reference_model.compiler import vocabulary as vocab
from reference_model.program.binary import decode_module
from reference_model.program.decoding import decode_trace
from reference_model.program.encoding import encode_invocation
from reference_model.weights import compiled_model

LOOP = """(module (func (export "count") (param i32) (result i32) (local i32)
  block loop local.get 0 i32.eqz br_if 1 local.get 1 local.get 0 i32.add local.set 1
    local.get 0 i32.const 1 i32.sub local.set 0 br 0 end end local.get 1))"""
STEPS_PER_ITER = 13  # trace records per loop iteration (the call adds 7 more)


def run(model, prompts, max_tokens, backend, weights, label, engine="torch", workers=1):
    with Progress(*Progress.get_default_columns(), TextColumn("{task.completed:,.0f} tokens"), transient=True,
                  console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=max_tokens)

        def progress(row, tokens):  # generate's stop_when hook, asked every 64 tokens: never stops, only reports
            if row == 0:
                bar.update(task, completed=len(tokens))
            return False

        t = time.perf_counter()
        gen = model.generate([p.tokens for p in prompts], max_new_tokens=max_tokens, stop_tokens=vocab.STOP_TOKENS,
                             backend=backend, weights=weights, engine=engine, threads=workers, stop_when=progress)
        return gen, time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100_000, help="steps of the single-stream call")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--batched-steps", type=int, default=10_000, help="steps per call of the batched run (0: skip)")
    ap.add_argument("--backend", default="dense")
    ap.add_argument("--weights", default="sparse")
    ap.add_argument("--engine", default="torch", help="torch, or native (hull on the CPU: reference_model/native.py)")
    ap.add_argument("--workers", type=int, default=1, help="native engine: threads the batch rows are split over")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="f64")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = decode_module(wasmtime.wat2wasm(LOOP))
    model = compiled_model(a.device, a.dtype)
    if a.engine == "native":  # compile (or load) the engine before the clock starts
        model.generate([[0, 0]], max_new_tokens=1, stop_tokens=[], backend=a.backend, engine=a.engine)
    runs = [("single", 1, a.steps)] + ([("batched", a.batch, a.batched_steps)] if a.batched_steps else [])
    for label, batch, steps in runs:
        n = max(1, -(-(steps - 7) // STEPS_PER_ITER))  # iterations for at least `steps` records
        budget = (n + 2) * STEPS_PER_ITER * vocab.GROUP + 200
        prompts = [encode_invocation(m, m.exports["count"][1], [n - b], {}) for b in range(batch)]
        gen, dt = run(model, prompts, budget, a.backend, a.weights, label, a.engine, a.workers if batch > 1 else 1)
        traces = [decode_trace(p, t) for p, t in zip(prompts, gen.tokens)]
        ok = all(r.outcome == "halt" and r.results == [((n - b) * (n - b + 1) // 2) & 0xFFFFFFFF]
                 for b, r in enumerate(traces))
        tokens = sum(len(t) for t in gen.tokens)
        done = sum(len(r.records) for r in traces)
        print(f"{label:8s} batch={batch} backend={a.backend} weights={a.weights} engine={a.engine} "
              f"{a.device}-{a.dtype} threads={a.threads} workers={a.workers if batch > 1 else 1}: {done} steps, {tokens} tokens in {dt:.1f}s -> {tokens / dt:,.0f} tokens/s, "
              f"{done / dt:,.0f} steps/s, results {'ok' if ok else 'WRONG'}", flush=True)

if __name__ == "__main__":
    main()
