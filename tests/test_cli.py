"""The command line: results on disk, a summary, and one-line errors for bad input."""
from __future__ import annotations

import os
import subprocess
import zlib
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.expectations import load_expectations
from reports.schema import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
WASMCONF = [sys.executable, "-m", "harness"]
TESTSUITE = Path(os.environ.get("WASM_TESTSUITE") or ROOT.parent / "shared" / "wasm-testsuite")


def wasmconf(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*WASMCONF, *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


def test_run_default_corpus_writes_results(tmp_path):
    proc = wasmconf("run", "--out", str(tmp_path / "r"), "-j", "2")
    assert proc.returncode == 0, proc.stderr
    assert "directives.wast" in proc.stdout and "total" in proc.stdout
    df = pd.read_parquet(tmp_path / "r" / "results.parquet")
    assert list(df.columns)[: len(COLUMNS)] == list(COLUMNS)
    assert set(df["kind"]) >= {"module", "register", "action", "assert_return", "assert_trap", "assert_exhaustion",
                               "assert_invalid", "assert_malformed", "assert_unlinkable", "assert_uninstantiable",
                               "assert_exception", "module_definition", "module_instance"}
    assert (df["status"] == "pass").all(), df[df["status"] != "pass"]
    assert not df["unexpected"].any()
    assert (tmp_path / "r" / "run.json").exists()


@pytest.mark.skipif(not TESTSUITE.is_dir(), reason="pinned testsuite not present")
def test_run_selects_testsuite_scripts_by_name_and_glob(tmp_path):
    proc = wasmconf("run", "--testsuite", str(TESTSUITE), "nop", "local_*", "-q", "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(tmp_path / "r" / "results.parquet")
    assert set(df["file"]) == {"nop.wast", "local_get.wast", "local_init.wast", "local_set.wast", "local_tee.wast"}


@pytest.mark.parametrize(
    "args,needle",
    [
        (["run", "--testsuite", "/nonexistent/suite"], "testsuite directory not found"),
        (["run", "--executor", "nosuch"], "unknown executor"),
        (["run", "--executor", "transformer", "--config", "tpu-f16-magic"], "unknown config"),
        (["run", "no_such_script"], "no script matches"),
        (["run", "--executor", "transformer", "--config", "cpu-f64-dense-fault_nosuch"], "unknown config variant"),
        (["run", "--executor", "transformer", "--batch", "1,x"], "--batch takes"),
        (["run", "--executor", "transformer", "--batch", "0"], "at least 1"),
        (["run", "--batch", "4"], "transformer executor only"),
        (["run", "--executor", "transformer", "--max-prompt", "0"], "positive count"),
        (["run", "--max-steps", "100"], "transformer executor only"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args, needle):
    proc = wasmconf(*args)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreadable_script_is_one_line(tmp_path):
    bad = tmp_path / "bad.wast"
    bad.write_text("(module (func (i32.add))) (assert_return (invoke")
    proc = wasmconf("run", str(bad))
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bad.wast" in lines[0]


def test_expectations_mark_rows(tmp_path):
    (tmp_path / "wasmtime.toml").write_text(
        '[[expect]]\nfile = "a.wast"\nlines = [3]\nstatus = ["wrong_result"]\nreason = "known"\n'
        '[[expect]]\nfile = "b*.wast"\nstatus = ["unsupported", "pass"]\nreason = "flaky"\n'
    )
    exp = load_expectations(tmp_path, "wasmtime")
    df = pd.DataFrame({
        "file": ["a.wast", "a.wast", "a.wast", "b1.wast", "b1.wast"],
        "line": [3, 4, 5, 1, 2],
        "kind": ["assert_return"] * 5,
        "config": ["default"] * 5,
        "status": ["wrong_result", "pass", "wrong_trap", "unsupported", "pass"],
    })
    out = exp.apply(df)
    assert out["unexpected"].tolist() == [False, False, True, False, False]
    assert out["reason"].tolist()[0] == "known"


def test_malformed_expectations_file_is_one_line(tmp_path):
    (tmp_path / "wasmtime.toml").write_text("[[expect]]\nfile = 'x'\n")
    proc = wasmconf("run", "--expectations", str(tmp_path))
    assert proc.returncode == 2 and "lacks 'status'" in proc.stderr


def test_a_crashed_worker_costs_rows_not_the_run(tmp_path):
    proc = wasmconf("run", "--out", str(tmp_path / "r"), "-j", "1", "-q",
                    env={"WASMCONF_FAULT": "abort:traps.wast:22"})
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(tmp_path / "r" / "results.parquet")
    traps = df[df["file"] == "traps.wast"].set_index("line")
    assert traps.loc[22, "status"] == "harness_error" and "died" in traps.loc[22, "message"]
    assert (traps.loc[23:, "status"] == "harness_error").all()
    assert (traps.loc[:21, "status"] == "pass").all()
    # the scripts after the crash ran in a fresh worker
    assert (df[df["file"] != "traps.wast"]["status"] == "pass").all()
    from harness.cli import discover

    assert df["file"].nunique() == len(discover((), None))


@pytest.mark.skipif(not TESTSUITE.is_dir(), reason="pinned testsuite not present")
def test_interrupted_run_keeps_finished_scripts(tmp_path):
    import signal
    import time

    out = tmp_path / "r"
    # SIGINT back to its default in the child: pytest started in the background of a shell inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler (the run finished with 0)
    proc = subprocess.Popen([*WASMCONF, "run", "--testsuite", str(TESTSUITE), "-j", "1", "-q", "--out", str(out)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and len(list((out / "parts").glob("*.parquet"))) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    df = pd.read_parquet(out / "results.parquet")
    assert df["file"].nunique() >= 3


SUM_WAT = """(module
  (func (export "sum") (param i32) (result i32) (local i32)
    (block (loop (br_if 1 (i32.eqz (local.get 0)))
      (local.set 1 (i32.add (local.get 1) (local.get 0)))
      (local.set 0 (i32.sub (local.get 0) (i32.const 1))) (br 0)))
    (local.get 1))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))
"""


@pytest.mark.parametrize("executor", ["wasmtime", "reference"])
def test_invoke_prints_results_and_trap_exit_code(tmp_path, executor):
    mod = tmp_path / "sum.wat"
    mod.write_text(SUM_WAT)
    proc = wasmconf("invoke", str(mod), "sum", "10", "--executor", executor)
    assert proc.returncode == 0 and proc.stdout.strip() == "i32:55", proc.stderr
    proc = wasmconf("invoke", str(mod), "div", "i32:7", "0", "--executor", executor)
    assert proc.returncode == 3 and "integer divide by zero" in proc.stderr and proc.stdout == ""


def test_invoke_runs_a_c_program_on_the_transformer_within_its_step_limit():
    """programs/wasm/crc32.wasm (linear memory, a data segment) on cpu-f64-hull: wasmtime's result; exit 6 when
    --max-steps is too small."""
    wasm = str(ROOT / "programs" / "wasm" / "crc32.wasm")
    proc = wasmconf("invoke", wasm, "crc32", "9", "--config", "cpu-f64-hull")
    crc = zlib.crc32(bytes((i * 7 + 3) & 255 for i in range(9)))
    assert proc.returncode == 0 and proc.stdout.strip() == f"i32:{crc - (crc >> 31 << 32)}", proc.stderr
    proc = wasmconf("invoke", wasm, "crc32", "9", "--config", "cpu-f64-hull", "--max-steps", "100")
    assert proc.returncode == 6 and "step limit 100" in proc.stderr


def test_invoke_bad_input_is_one_line(tmp_path):
    mod = tmp_path / "sum.wat"
    mod.write_text(SUM_WAT)
    for args, needle in ((["sum"], "takes 1 argument"), (["sum", "x"], "not a valid i32"), (["nope"], "nope")):
        proc = wasmconf("invoke", str(mod), *args, "--executor", "reference")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr


def test_trace_dir_holds_one_trace_per_traced_command(tmp_path):
    proc = wasmconf("run", "--executor", "reference", "i32_programs", "-q", "--out", str(tmp_path / "r"),
                    "--trace-dir", str(tmp_path / "t"))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(tmp_path / "r" / "results.parquet")
    invoked = df[(df["kind"] == "assert_return") & (df["export"] != "calls")]  # "calls" is a global get
    assert (invoked["trace_hash"] != "").all() and (invoked["steps"] > 0).all()
    files = sorted((tmp_path / "t").glob("*.parquet"))
    traced = df[(df["trace_hash"] != "")]
    assert len(files) == len(traced)
    first = pd.read_parquet(files[0])
    assert list(first.columns) == ["step", "depth", "func", "pc", "op", "pushed", "height", "writes"]


def test_cuda_configs_are_skipped_without_cuda(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    proc = wasmconf("run", "--executor", "transformer", "--config", "cuda-f64-dense", "-q", "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    assert "skipped (no CUDA): cuda-f64-dense" in proc.stderr
    assert len(pd.read_parquet(tmp_path / "r" / "results.parquet")) == 0
    assert wasmconf("gate", str(tmp_path / "r"), "--no-retry").returncode == 0


def test_the_summary_counts_passes_whose_trace_nothing_checked(capsys):
    from harness.summary import TRACE_UNCHECKED, print_summary

    frame = pd.DataFrame({"file": ["a.wast"] * 3, "status": ["pass", "pass", "trace_divergence"],
                          "message": ["", f"{TRACE_UNCHECKED}: the trace oracle could not instantiate the module (x)",
                                      f"{TRACE_UNCHECKED}?"]})
    print_summary(frame)
    assert "passes whose trace nothing checked (their messages say why): 1" in capsys.readouterr().out
    print_summary(frame.assign(message=""))
    assert "trace nothing checked" not in capsys.readouterr().out
