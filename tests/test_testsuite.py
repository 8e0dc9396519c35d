"""Whole pinned testsuite, wasmtime oracle and reference interpreter: every non-pass is a listed expectation."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTSUITE = Path(os.environ.get("WASM_TESTSUITE") or ROOT.parent / "shared" / "wasm-testsuite")


@pytest.mark.skipif(not TESTSUITE.is_dir(), reason="pinned testsuite not present")
@pytest.mark.parametrize("executor,min_pass", [("wasmtime", 0.995), ("reference", 0.55)])
def test_executor_passes_the_testsuite_but_for_listed_expectations(tmp_path, executor, min_pass):
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--testsuite", str(TESTSUITE), "--executor", executor,
         "-q", "--out", str(tmp_path)],
        capture_output=True, text=True, cwd=ROOT, timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    df = pd.read_parquet(tmp_path / "results.parquet")
    assert df["file"].nunique() == len(list(TESTSUITE.glob("*.wast")))
    unexpected = df[df["unexpected"]]
    assert unexpected.empty, unexpected[["file", "line", "status", "actual", "message"]].head(20).to_string()
    assert (df["status"] == "pass").mean() >= min_pass
    assert not (df["status"] == "harness_error").any()
