"""Per-step decode time of the whole compiled model against trace length: hull (native engine) vs dense.

    .venv/bin/python benchmarks/bench_scaling.py [--hull-steps 1000,10000,100000] [--dense-steps 1000,10000,100000]
        [--dtype f64] [--png benchmarks/out/scaling.png]

Hull: one run of bench_transformer's counting loop on the native engine
(hull attention) up to the last --hull-steps mark; the per-step time at a
mark is the median time of five windows of 100 steps (1,100 tokens) decoded
right after it.
Dense: the torch engine with dense KV caches; a dense look-up costs the
same whatever the cached keys are, so at each mark the caches are filled
with that many positions of random keys and values and 50 steps (550
tokens) are timed from there (fewer, at least 3, where they take over 30 s).
--hull-from FILE takes the hull figures from an earlier run's output
instead (a 1M-step hull run takes a quarter of an hour).  One step is 11 tokens (one trace record).
Prints a table and saves a log-log plot of both curves.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import wasmtime

from reference_model.compiler import vocabulary as vocab
from reference_model.native import Engine
from reference_model.program.binary import decode_module
from reference_model.program.encoding import encode_invocation
from reference_model.weights import compiled_model

from bench_transformer import LOOP, STEPS_PER_ITER

WINDOW = 500  # steps timed at each hull mark, in WINDOWS windows (the median is the figure)
WINDOWS = 5
DENSE_WINDOW = 50
DENSE_SECONDS = 30.0


def hull_curve(model, marks: list[int]) -> dict[int, float]:
    """Seconds per step at each mark, one native run of the loop."""
    m = decode_module(wasmtime.wat2wasm(LOOP))
    n = (max(marks) + WINDOW) // STEPS_PER_ITER + 10  # never halts before the last window
    prompt = np.array([encode_invocation(m, m.exports["count"][1], [n], {}).tokens])
    total = prompt.shape[1] + (max(marks) + WINDOW + 10) * vocab.GROUP
    engine = Engine(model, 1, max_positions=total, capacity=total)  # one allocation: no copy while growing
    engine.prefill(prompt[:, :-1], np.zeros(1, np.int64))
    token, pos = prompt[:, -1], prompt.shape[1] - 1
    stops, done = np.array(sorted(vocab.STOP_TOKENS)), np.zeros(1, np.bool_)
    out = {}
    for mark in sorted(marks):
        steps_now = (pos - prompt.shape[1] + 1) // vocab.GROUP
        if mark > steps_now:  # untimed: decode up to the mark
            todo = (mark - steps_now) * vocab.GROUP
            while todo > 0:
                k = min(todo, 1 << 16)
                token = engine.decode(token, np.array([pos]), k, stops, done)[0][-1]
                pos, todo = pos + k, todo - k
                print(f"  hull: {(pos - prompt.shape[1]) // vocab.GROUP:,} steps\r", end="", file=sys.stderr, flush=True)
        times = []
        for _ in range(WINDOWS):  # the median window: one hiccup of a shared machine does not make the figure
            t = time.perf_counter()
            toks = engine.decode(token, np.array([pos]), WINDOW // WINDOWS * vocab.GROUP, stops, done)[0]
            times.append((time.perf_counter() - t) / (WINDOW // WINDOWS))
            token, pos = toks[-1], pos + len(toks)
        out[mark] = float(np.median(times))
        assert not done[0], "the loop halted before the last mark"
        print(f"hull  {mark:>9,} steps: {out[mark] * 1e6:9.1f} us/step", flush=True)
    return out


def dense_curve(model, marks: list[int]) -> dict[int, float]:
    """Seconds per step with dense caches already holding mark steps' positions."""
    out = {}
    gen = torch.Generator().manual_seed(0)
    dt = model.tok_emb.dtype
    for mark in sorted(marks):
        T = mark * vocab.GROUP
        caches = model.new_caches(1, "dense", capacity=T + DENSE_WINDOW * vocab.GROUP + 1)
        for c in caches:
            if c is not None:
                c.extend(torch.randn(T, 1, c.heads, 2, generator=gen, dtype=dt) * T,
                         torch.randn(T, 1, c.heads, c.value_dim, generator=gen, dtype=dt))
        token = torch.tensor([vocab.HALT])  # any token: what a dense step costs does not depend on it
        t = time.perf_counter()
        steps = 0
        with torch.no_grad():  # DENSE_WINDOW steps, or fewer (at least 3) once DENSE_SECONDS have passed
            while steps < DENSE_WINDOW and (steps < 3 or time.perf_counter() - t < DENSE_SECONDS):
                for i in range(vocab.GROUP):
                    logits, _ = model.step(token, torch.tensor([T + steps * vocab.GROUP + i]), caches)
                    token = logits.argmax(-1)
                steps += 1
        out[mark] = (time.perf_counter() - t) / steps
        print(f"dense {mark:>9,} steps: {out[mark] * 1e6:9.1f} us/step", flush=True)
        del caches
    return out


def plot(hull: dict, dense: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for name, curve, style in (("hull (native engine)", hull, "o-"), ("dense (torch engine)", dense, "s--")):
        if curve:
            xs = sorted(curve)
            ax.plot(xs, [curve[x] * 1e6 for x in xs], style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("trace length (steps; 11 tokens each)")
    ax.set_ylabel("decode time per step (us)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"plot: {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hull-steps", default="1000,10000,100000")
    ap.add_argument("--dense-steps", default="1000,10000,100000")
    ap.add_argument("--hull-from", type=Path, help="take the hull figures from this earlier output instead")
    ap.add_argument("--dtype", default="f64")
    ap.add_argument("--png", type=Path, default=Path(__file__).parent / "out" / "scaling.png")
    a = ap.parse_args()
    torch.set_num_threads(1)
    model = compiled_model("cpu", a.dtype)
    model.generate([[0, 0]], max_new_tokens=1, stop_tokens=[], backend="hull", engine="native")  # compile first
    parse = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    if a.hull_from:
        hull = {int(m[1].replace(",", "")): float(m[2]) * 1e-6
                for m in re.finditer(r"^hull\s+([\d,]+) steps:\s+([\d.]+) us/step", a.hull_from.read_text(), re.M)}
        for mark in sorted(hull):
            print(f"hull  {mark:>9,} steps: {hull[mark] * 1e6:9.1f} us/step   (from {a.hull_from})", flush=True)
    else:
        hull = hull_curve(model, parse(a.hull_steps)) if a.hull_steps else {}
    dense = dense_curve(model, parse(a.dense_steps)) if a.dense_steps else {}
    for name, curve in (("hull", hull), ("dense", dense)):
        if len(curve) > 1:
            lo, hi = min(curve), max(curve)
            print(f"{name}: {curve[hi] / curve[lo]:.2f}x the per-step time at {hi:,} steps as at {lo:,} steps")
    plot(hull, dense, a.png, f"compiled transformer, cpu-{a.dtype}, one thread")


if __name__ == "__main__":
    main()
