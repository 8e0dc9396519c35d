"""The result row schema: one row per (command, config, repeat), saved as parquet."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

STATUSES = (
    "pass",
    "wrong_result",
    "wrong_trap",
    "trace_divergence",
    "tie_break",
    "nondeterministic",
    "config_divergence",
    "unsupported",
    "step_limit",
    "harness_error",
)

# column -> pandas dtype; the order is the order in the files
COLUMNS: dict[str, str] = {
    "run_id": "string",
    "suite": "string",  # "conformance", "testsuite", "fuzz"
    "file": "string",
    "line": "int64",
    "kind": "string",  # module, assert_return, ...
    "export": "string",
    "args": "string",
    "expected": "string",
    "actual": "string",
    "status": "string",
    "message": "string",
    "executor": "string",
    "config": "string",
    "device": "string",
    "dtype": "string",
    "backend": "string",
    "batch": "int64",
    "threads": "int64",
    "repeat": "int64",
    "steps": "int64",
    "tokens": "int64",
    "wall_s": "float64",
    "trace_hash": "string",
    "min_margin": "float64",
    "div_step": "int64",
    "div_field": "string",
    "div_expected": "string",
    "div_actual": "string",
    "versions": "string",
}


def to_frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly the schema's columns and dtypes."""
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    return df.astype(COLUMNS)


def read_results(paths: list[Path]) -> pd.DataFrame:
    """Concatenate results files (a results.parquet, or a run folder holding one)."""
    frames = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            p = p / "results.parquet"
        frames.append(pd.read_parquet(p))
    return pd.concat(frames, ignore_index=True) if frames else to_frame([])
