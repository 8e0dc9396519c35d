"""Traces on disk: one parquet file per traced command (format in docs/trace.md)."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from reference_model.trace import TraceRecord, _fmt


def trace_frame(records: list[TraceRecord]) -> pd.DataFrame:
    """A trace as a DataFrame; ``pushed`` and ``writes`` hold their canonical text."""
    return pd.DataFrame(
        {
            "step": [r.step for r in records],
            "depth": [r.depth for r in records],
            "func": [r.func for r in records],
            "pc": [r.pc for r in records],
            "op": [r.op for r in records],
            "pushed": [",".join(_fmt(v) for v in r.pushed) for r in records],
            "height": [r.height for r in records],
            "writes": [";".join(f"{w.kind}:{w.index}:{w.addr}:{_fmt(w.value)}" for w in r.writes) for r in records],
        }
    )


def write_trace(out: Path, cmd, inv, config: str) -> Path:
    """Write one command's trace as OUT/<script>-<line>-<config>.parquet."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(cmd.script or "script").stem)
    path = out / f"{stem}-{cmd.line}-{config}.parquet"
    trace_frame(inv.trace).to_parquet(path, index=False)
    return path
