"""The gate fails on unexpected results, tells flakes apart, and expectations round-trip."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.detect import mark_batch_variance, mark_config_divergence, mark_nondeterministic
from harness.expectations import load_expectations, update_expectations

ROOT = Path(__file__).resolve().parent.parent


def wasmconf(*args):
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    proc = wasmconf("run", "-q", "--out", str(out), "traps", "modules")
    assert proc.returncode == 0, proc.stderr
    return out


def test_clean_run_passes_the_gate(corpus_run):
    proc = wasmconf("gate", str(corpus_run))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 unexpected" in proc.stdout


def test_expected_failure_that_passes_fails_the_gate(corpus_run, tmp_path):
    (tmp_path / "wasmtime.toml").write_text(
        '[[expect]]\nfile = "traps.wast"\nlines = [17]\nstatus = ["wrong_trap"]\nreason = "pretend"\n')
    proc = wasmconf("gate", str(corpus_run), "--expectations", str(tmp_path))
    assert proc.returncode == 1
    assert "unexpected: traps.wast:17" in proc.stdout and "expected wrong_trap" in proc.stdout


def test_new_failure_fails_the_gate_and_a_passing_retry_is_flaky(corpus_run, tmp_path):
    df = pd.read_parquet(corpus_run / "results.parquet")
    df.loc[df["line"] == 17, "status"] = "wrong_trap"  # as if this command had failed once
    run = tmp_path / "run"
    run.mkdir()
    df.to_parquet(run / "results.parquet")
    proc = wasmconf("gate", str(run), "--no-retry")
    assert proc.returncode == 1 and "unexpected: traps.wast:17" in proc.stdout
    proc = wasmconf("gate", str(run))
    assert proc.returncode == 0, proc.stdout
    assert "flaky: traps.wast:17" in proc.stdout and "1 flaky" in proc.stdout
    assert wasmconf("gate", str(run), "--strict-flaky").returncode == 1


def test_gate_on_missing_results_is_one_line(tmp_path):
    proc = wasmconf("gate", str(tmp_path / "nothing"))
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


def _rows(**cols):
    n = len(next(iter(cols.values())))
    base = dict(file=["a.wast"] * n, line=[1] * n, kind=["assert_return"] * n, export=["f"] * n, args=[""] * n,
                actual=["i32:1"] * n, message=[""] * n, executor=["transformer"] * n, repeat=[0] * n,
                config=["cpu-f64-dense"] * n, trace_hash=["h"] * n, status=["pass"] * n)
    base.update(cols)
    return pd.DataFrame(base)


def test_repeats_that_disagree_are_nondeterministic():
    df = _rows(repeat=[0, 1, 2], trace_hash=["h", "h", "x"])
    out = mark_nondeterministic(df)
    assert out["status"].tolist() == ["nondeterministic"] * 3
    same = mark_nondeterministic(_rows(repeat=[0, 1], trace_hash=["h", "h"]))
    assert same["status"].tolist() == ["pass", "pass"]


def test_configs_that_disagree_are_config_divergence():
    df = _rows(config=["cpu-f64-dense", "cpu-f32-dense", "cpu-f64-hull"], trace_hash=["h", "x", "h"])
    out = mark_config_divergence(df)
    assert out["status"].tolist() == ["pass", "config_divergence", "pass"]
    assert "cpu-f64-dense" in out["message"][1]


def test_a_needle_whose_trace_changes_in_a_batch_is_batch_variance():
    df = _rows(batch=[1, 4, 8, 1, 4], line=[1, 1, 1, 2, 2], trace_hash=["h", "h", "x", "g", ""],
               status=["pass", "pass", "pass", "pass", "wrong_result"], message=["", "", "", "", "got 3"])
    out = mark_batch_variance(df)
    assert out["status"].tolist() == ["pass", "pass", "config_divergence", "pass", "wrong_result"]
    assert "batch variance: the trace at batch 8 differs from batch 1" in out["message"][2]
    assert out["message"][4] == "batch variance (passes at batch 1): got 3"  # the specific status stays
    assert mark_batch_variance(df.assign(batch=1))["status"].tolist() == df["status"].tolist()


def test_repeats_at_different_batch_sizes_are_not_compared_as_repeats():
    df = _rows(repeat=[0, 1, 0, 1], batch=[1, 1, 4, 4], trace_hash=["h", "h", "x", "x"])
    assert mark_nondeterministic(df)["status"].tolist() == ["pass"] * 4


def test_expectations_update_round_trips(tmp_path):
    df = _rows(line=[1, 2, 2, 3], status=["pass", "wrong_result", "pass", "tie_break"],
               config=["cpu-f64-dense", "cpu-f32-dense", "cpu-f64-dense", "cpu-f32-dense"])
    (tmp_path / "transformer.toml").write_text(
        '[[expect]]\nfile = "a.wast"\nlines = [2]\nstatus = ["wrong_result"]\nreason = "f32 rounding"\n')
    update_expectations(df, tmp_path, "transformer")
    exp = load_expectations(tmp_path, "transformer")
    out = exp.apply(df)
    assert not out["unexpected"].any()
    assert exp.lookup("a.wast", 2, "assert_return", "cpu-f32-dense").reason == "f32 rounding"
    assert exp.lookup("a.wast", 2, "assert_return", "cpu-f64-dense") is None


def test_expectations_update_edits_the_file_in_place(tmp_path):
    """Comments and entries the run cannot speak for stay; stale entries go; new rows get the given reason."""
    (tmp_path / "transformer.toml").write_text(
        "# hand-written header\n"
        '[[expect]]\nfile = "a.wast"\nlines = [1]\nconfigs = ["*-fault_xor"]\nstatus = ["wrong_result"]\n'
        'reason = "planted fault"\n'
        '[[expect]]\nfile = "a.wast"\nlines = [2]\nstatus = ["step_limit"]\nreason = "over budget"\n'
        '[[expect]]\nfile = "a.wast"\nlines = [3]\nstatus = ["tie_break"]\nreason = "fixed since"\n')
    df = _rows(line=[1, 2, 3, 4], status=["pass", "step_limit", "pass", "tie_break"],
               config=["cpu-f32-dense"] * 4)
    done = update_expectations(df, tmp_path, "transformer", reason="float32 design limit")
    assert (done["kept"], done["dropped"], done["added"]) == (2, 1, 1)
    text = (tmp_path / "transformer.toml").read_text()
    assert text.startswith("# hand-written header") and "fixed since" not in text
    exp = load_expectations(tmp_path, "transformer")
    assert exp.lookup("a.wast", 1, "assert_return", "cpu-f64-dense-fault_xor").reason == "planted fault"
    assert exp.lookup("a.wast", 2, "assert_return", "cpu-f32-dense").reason == "over budget"
    assert exp.lookup("a.wast", 4, "assert_return", "cpu-f32-dense").reason == "float32 design limit"
    assert exp.lookup("a.wast", 4, "assert_return", "cpu-f64-dense") is None  # a run of one config speaks for it only
    assert not exp.apply(df)["unexpected"].any()


def test_expectations_update_narrows_an_entry_to_the_configs_not_run(tmp_path):
    """A run of one config contradicts a two-config entry only for that config: the other keeps it."""
    (tmp_path / "transformer.toml").write_text(
        '[[expect]]\nfile = "a.wast"\nlines = [2]\nconfigs = ["cpu-f32-dense", "cpu-f32-hull"]\n'
        'status = ["tie_break"]\nreason = "float32 design limit"\n')
    df = _rows(line=[2], status=["pass"], config=["cpu-f32-hull"])
    done = update_expectations(df, tmp_path, "transformer")
    assert (done["narrowed"], done["dropped"], done["added"]) == (1, 0, 0)
    exp = load_expectations(tmp_path, "transformer")
    assert exp.lookup("a.wast", 2, "assert_return", "cpu-f32-dense").reason == "float32 design limit"
    assert exp.lookup("a.wast", 2, "assert_return", "cpu-f32-hull") is None
