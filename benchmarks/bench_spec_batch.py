"""Batched decoding of spec assertions on the native engine: tokens/s one at a time and batched.

    .venv/bin/python benchmarks/bench_spec_batch.py [--testsuite ../shared/wasm-testsuite] [--batch 64]
        [--workers 2] [--max-steps 500] [--max-prompt 20000] [--dtype f64] [SCRIPT ...]

Takes every invoke of the scripts' assert_return / assert_trap / action
commands whose module and arguments the transformer supports (i32), encodes
it as a prompt (the module's initial globals), and decodes all of them:
first one call at a time (single stream, one thread), then in batches of
--batch prompts (sorted by length, so padding stays small) split over
--workers threads.  Tokens counted are prompt + generated tokens, as in
Percepta's figures.  Checks that every batched row gives the tokens of its
single-stream run.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from harness.executors.transformer import TransformerExecutor
from harness.wast import load_script
from reference_model.compiler import vocabulary as vocab
from reference_model.errors import ExecutorOutcome
from reference_model.program.encoding import encode_invocation
from reference_model.weights import compiled_model

NIGHTLY = ("i32 int_exprs int_literals block br br_if br_table call forward if labels local_get local_set local_tee "
           "loop nop return select stack switch unwind unreachable").split()


def prompts_of(testsuite: Path, names: list[str], max_prompt: int) -> list[list[int]]:
    session = TransformerExecutor("cpu-f64-hull").open_session()
    out = []
    for name in names:
        script = load_script(testsuite / f"{name}.wast", f"{name}.wast")
        inst = None
        for cmd in script.commands:
            if cmd.kind == "module":
                try:
                    inst = session.instantiate(cmd.module_bytes())
                except (ExecutorOutcome, Exception):  # unsupported or invalid: its invokes are skipped
                    inst = None
                continue
            act = cmd.action
            if inst is None or act is None or act.get("type") != "invoke" or act.get("module"):
                continue
            kind, idx = inst.module.exports.get(act["field"], (None, None))
            args = act.get("args", [])
            if kind != 0 or any(a["type"] != "i32" for a in args):
                continue
            try:
                p = encode_invocation(inst.module, idx, [int(a["value"]) & 0xFFFFFFFF for a in args], inst.globals)
            except ExecutorOutcome:
                continue
            if len(p.tokens) <= max_prompt:
                out.append(p.tokens)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scripts", nargs="*", default=NIGHTLY)
    ap.add_argument("--testsuite", type=Path, default=Path(os.environ.get("WASM_TESTSUITE", "../shared/wasm-testsuite")))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-steps", type=int, default=500)
    ap.add_argument("--max-prompt", type=int, default=20000)
    ap.add_argument("--dtype", default="f64")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N prompts (0: all)")
    a = ap.parse_args()
    torch.set_num_threads(1)
    prompts = prompts_of(a.testsuite, a.scripts, a.max_prompt)
    if a.limit:
        prompts = prompts[: a.limit]
    model = compiled_model("cpu", a.dtype)
    budget = a.max_steps * vocab.GROUP + 2
    kw = dict(max_new_tokens=budget, stop_tokens=vocab.STOP_TOKENS, backend="hull", engine="native")
    model.generate([[0, 0]], max_new_tokens=1, stop_tokens=[], backend="hull", engine="native")  # compile first
    print(f"{len(prompts)} invokes from {len(a.scripts)} scripts, {sum(map(len, prompts)):,} prompt tokens, "
          f"budget {a.max_steps} steps per call, cpu-{a.dtype}")

    t = time.perf_counter()
    single = [model.generate([p], **kw).tokens[0] for p in prompts]
    dt1 = time.perf_counter() - t
    tok1 = sum(len(p) + len(g) for p, g in zip(prompts, single))
    print(f"single stream, 1 thread: {tok1:,} tokens in {dt1:.1f}s -> {tok1 / dt1:,.0f} tokens/s")

    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    batched: dict[int, list[int]] = {}
    padded = 0
    t = time.perf_counter()
    for lo in range(0, len(order), a.batch):
        idx = order[lo : lo + a.batch]
        gen = model.generate([prompts[i] for i in idx], threads=a.workers, **kw)
        width = max(len(prompts[i]) for i in idx)
        padded += sum(width - len(prompts[i]) for i in idx)
        batched.update(zip(idx, gen.tokens))
    dt2 = time.perf_counter() - t
    same = sum(batched[i] == single[i] for i in range(len(prompts)))
    print(f"batched x{a.batch}, {a.workers} threads: {tok1:,} tokens (+{padded:,} padding) in {dt2:.1f}s -> "
          f"{tok1 / dt2:,.0f} tokens/s; {same}/{len(prompts)} rows as single stream")


if __name__ == "__main__":
    main()
