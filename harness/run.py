"""A conformance run: scripts fanned out to worker processes, rows collected and saved.

Each worker process builds its executor once and runs whole scripts, so a
crash of the executor (wasmtime aborts on some host-API paths) loses one
worker, not the run: the commands the dead worker had not reported become
``harness_error`` rows and a fresh worker takes the next script.  Rows are
saved per script under ``OUT/parts/`` as they arrive, so an interrupted
run keeps what it finished; ``OUT/results.parquet`` joins them at the end.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from reports.schema import to_frame

from .wast import Script, load_script


@dataclass
class RunSpec:
    """Everything a worker needs to rebuild the executor and run scripts."""

    executor: str
    config: str | None
    options: dict = field(default_factory=dict)
    oracle: str | None = None  # trace oracle executor name (e.g. "reference"), or None
    trace_dir: str | None = None
    suite: str = "conformance"
    run_id: str = ""
    repeat: int = 0
    batch: int = 1
    threads: int = 1
    log_path: str | None = None  # workers' stderr (native crash messages) goes here


def base_row(spec: RunSpec, executor) -> dict:
    from .executors import parse_config

    fields = {"device": "", "dtype": "", "backend": ""}
    cfg = getattr(executor, "config", "default")
    if spec.executor == "transformer":
        parsed = parse_config(cfg)
        fields = {k: parsed[k] for k in fields}
    return {
        "run_id": spec.run_id,
        "suite": spec.suite,
        "executor": executor.name,
        "config": cfg,
        **fields,
        "batch": spec.batch,
        "threads": spec.threads,
        "repeat": spec.repeat,
        "versions": json.dumps(executor.versions(), sort_keys=True),
    }


def _worker(spec: RunSpec, conn) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    if spec.log_path:  # native libraries print their dying words on fd 2: keep them out of the terminal
        log = os.open(spec.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 2)
    # test hook: WASMCONF_FAULT=abort:FILE:LINE kills this worker at that command (proves crash isolation)
    fault = os.environ.get("WASMCONF_FAULT", "")
    try:
        import torch

        torch.set_num_threads(spec.threads)
    except ImportError:
        pass
    from .executors import make_executor
    from .runner import ScriptRunner

    options = dict(spec.options)
    if spec.batch > 1:  # only the transformer batches (the CLI refuses --batch for the others)
        options["batch"] = spec.batch
    executor = make_executor(spec.executor, spec.config, **options)
    oracle = make_executor(spec.oracle) if spec.oracle else None
    base = base_row(spec, executor)
    sink = _trace_sink(spec, executor) if spec.trace_dir else None
    while True:
        item = conn.recv()
        if item is None:
            return
        index, path, name = item
        script = load_script(Path(path), name)
        runner = ScriptRunner(script, executor, base, oracle=oracle, trace_sink=sink)
        for row in runner.rows():
            if fault == f"abort:{row['file']}:{row['line']}":
                os.abort()
            conn.send(("row", index, row))
        conn.send(("done", index, None))


def _trace_sink(spec: RunSpec, executor) -> Callable:
    from .traces import write_trace

    out = Path(spec.trace_dir)
    out.mkdir(parents=True, exist_ok=True)

    def sink(cmd, inv) -> None:
        write_trace(out, cmd, inv, getattr(executor, "config", "default"))

    return sink


@dataclass
class RunResult:
    frame: pd.DataFrame
    interrupted: bool
    seconds: float


def run_scripts(
    scripts: list[Script],
    spec: RunSpec,
    out_dir: Path,
    jobs: int,
    progress: Callable[[Script, int, int], None] | None = None,
) -> RunResult:
    """Run every script in worker processes; return all rows (also written under out_dir)."""
    ctx = mp.get_context("spawn")
    parts = out_dir / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    pending = list(range(len(scripts)))
    rows_of: dict[int, list[dict]] = {i: [] for i in pending}
    # one duplex pipe per worker: a worker that dies mid-write cannot block the others
    workers: dict[int, tuple[mp.Process, object]] = {}
    current: dict[int, int | None] = {}
    frames: list[pd.DataFrame] = []
    next_id = 0
    interrupted = False

    def start_worker() -> None:
        nonlocal next_id
        ours, theirs = ctx.Pipe(duplex=True)
        p = ctx.Process(target=_worker, args=(spec, theirs), daemon=True)
        p.start()
        theirs.close()
        workers[next_id] = (p, ours)
        current[next_id] = None
        next_id += 1

    def finish(index: int) -> None:
        frame = to_frame(rows_of.pop(index))
        frame.to_parquet(parts / f"{index:05d}.parquet", index=False)
        frames.append(frame)
        if progress:
            progress(scripts[index], len(frame), int((frame["status"] == "pass").sum()))

    def assign(wid: int) -> None:
        if current[wid] is None and pending:
            i = pending.pop(0)
            current[wid] = i
            workers[wid][1].send((i, str(scripts[i].path), scripts[i].name))

    def bury(wid: int) -> None:
        p, conn = workers.pop(wid)
        p.join(timeout=5)
        index = current.pop(wid)
        if index is not None:
            _fill_crashed(scripts[index], rows_of[index], p.exitcode, spec)
            finish(index)
        if pending:
            start_worker()
            assign(next_id - 1)

    try:
        for _ in range(max(1, min(jobs, len(scripts)))):
            start_worker()
            assign(next_id - 1)
        while rows_of:
            by_conn = {conn: wid for wid, (p, conn) in workers.items()}
            for conn in mp_connection.wait(list(by_conn), timeout=1.0):
                wid = by_conn[conn]
                try:
                    kind, index, row = conn.recv()
                except (EOFError, OSError):
                    bury(wid)
                    continue
                if kind == "row":
                    rows_of[index].append(row)
                else:
                    current[wid] = None
                    finish(index)
                    assign(wid)
            for wid in [w for w, (p, c) in workers.items() if not p.is_alive() and not c.poll()]:
                bury(wid)
    except KeyboardInterrupt:
        interrupted = True
        for index in list(rows_of):
            if rows_of[index]:
                finish(index)
    finally:
        for p, conn in workers.values():
            try:
                conn.send(None)
            except (OSError, BrokenPipeError):
                pass
        for p, conn in workers.values():
            p.join(timeout=1 if not interrupted else 0.1)
            if p.is_alive():
                p.kill()
    frame = pd.concat(frames, ignore_index=True) if frames else to_frame([])
    frame = frame.sort_values(["file", "line"], kind="stable").reset_index(drop=True)
    return RunResult(frame, interrupted, time.perf_counter() - start)


def _fill_crashed(script: Script, rows: list[dict], exitcode: int | None, spec: RunSpec) -> None:
    """Rows for the commands a crashed worker never reported: the first is the crash, the rest not run."""
    done = {(r["line"], r["kind"]) for r in rows}
    base = dict(rows[0]) if rows else {"run_id": spec.run_id, "suite": spec.suite, "executor": spec.executor,
                                       "config": spec.config or "default", "device": "", "dtype": "", "backend": "",
                                       "batch": spec.batch, "threads": spec.threads, "repeat": spec.repeat, "versions": "{}"}
    how = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
    first = True
    for cmd in script.commands:
        if (cmd.line, cmd.kind) in done:
            continue
        r = dict(base)
        r.update(file=script.name, line=cmd.line, kind=cmd.kind, export=(cmd.action or {}).get("field", ""),
                 args="", expected="", actual="", status="harness_error",
                 message=f"executor process died ({how}) during this command" if first
                 else "not run: the executor process died earlier in this script",
                 steps=-1, tokens=-1, wall_s=0.0, trace_hash="", min_margin=float("nan"),
                 div_step=-1, div_field="", div_expected="", div_actual="")
        rows.append(r)
        first = False


def default_jobs() -> int:
    return max(1, os.cpu_count() or 1)
