"""Differential fuzzing (harness/fuzz): generators, comparison, shrinking, regression scripts, the CLI.

The planted fault is a *stand-in*: ``XorFlippedReference`` below wraps the
reference interpreter and flips the low bit of every i32.xor result.  It
is test-only and exists so these tests do not depend on the transformer
executor; the weight-level faults of ``reference_model/faults.py`` are
exercised in test_planted_weight_fault (skipped when the transformer
cannot run).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch
import pytest
import wasmtime
from hypothesis import HealthCheck, given, settings

from harness.executors import make_executor
from harness.executors.base import Executor, Session
from harness.fuzz.campaign import run_campaign
from harness.fuzz.case import Call, FuzzCase
from harness.fuzz.compare import Differential, Observed, trap_kind, verdict
from harness.fuzz.generate import function_exports, i32_programs, long_loops, smith_cases
from harness.fuzz.shrink import Failure, regression_script, save_regression
from harness.run import RunSpec, base_row
from harness.runner import ScriptRunner
from harness.wast import load_script
from reference_model.interpreter import numerics
from reference_model.values import Value, i32

WASMCONF = str(Path(sys.executable).with_name("wasmconf"))


class _TamperedSession(Session):
    """A session whose invoke goes through ``tamper(invoke)`` (``invoke()`` makes the inner call)."""

    def __init__(self, inner: Session, tamper):
        self.inner, self.tamper = inner, tamper

    def validate(self, wasm):
        return self.inner.validate(wasm)

    def instantiate(self, wasm):
        return self.inner.instantiate(wasm)

    def register(self, name, instance):
        self.inner.register(name, instance)

    def invoke(self, instance, field, args):
        return self.tamper(lambda: self.inner.invoke(instance, field, args))

    def get(self, instance, field):
        return self.inner.get(instance, field)

    def memory(self, instance, field):
        return self.inner.memory(instance, field)


def _xor_flipped(invoke):
    """Run ``invoke`` with i32.xor results off by one bit (the reference flattens functions on first call)."""
    good = numerics.I32["xor"]
    numerics.I32["xor"] = lambda a, b: good(a, b) ^ 1  # the planted fault
    try:
        return invoke()
    finally:
        numerics.I32["xor"] = good


class XorFlippedReference(Executor):
    """STAND-IN planted fault (test only): the reference interpreter with i32.xor results off by one bit."""

    name = "xor-flipped-reference"
    config = "default"
    traces = True

    def __init__(self, traces: bool = True):
        self.traces = traces

    def open_session(self) -> Session:
        return _TamperedSession(make_executor("reference", trace=self.traces).open_session(), _xor_flipped)


def _case(text: str, *calls: Call) -> FuzzCase:
    return FuzzCase("test", wasmtime.wat2wasm(text), tuple(calls), text)


ENGINE = wasmtime.Engine()


# --- generation --------------------------------------------------------------------


@pytest.mark.parametrize("strategy", [smith_cases(), i32_programs(), long_loops(memory=True, max_iterations=1500)],
                         ids=["smith", "i32", "loops"])
def test_generators_yield_valid_modules_with_calls_on_their_exports(strategy):
    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def check(case):
        wasmtime.Module.validate(ENGINE, case.wasm)
        sigs = dict(function_exports(case.wasm))
        assert case.calls or case.generator == "smith"  # smith may export no function: instantiation only
        for call in case.calls:
            assert tuple(a.type for a in call.args) == sigs[call.export]

    check()


def test_generator_arguments_are_checked():
    with pytest.raises(ValueError, match="max_funcs"):
        i32_programs(max_funcs=0)
    with pytest.raises(ValueError, match="max_iterations"):
        long_loops(min_iterations=100, max_iterations=10)
    with pytest.raises(ValueError, match="max_bytes"):
        smith_cases(min_bytes=64, max_bytes=8)
    with pytest.raises(ValueError, match="memory"):
        long_loops(memory="yes")


# --- comparison --------------------------------------------------------------------


def test_trap_messages_of_different_engines_reduce_to_one_kind():
    assert trap_kind("wasm `unreachable` instruction executed") == trap_kind("unreachable") == "unreachable"
    assert trap_kind("undefined element: out of bounds table access") == trap_kind("undefined element")
    assert trap_kind("out of bounds table access") == trap_kind("undefined element")
    assert trap_kind("integer divide by zero") != trap_kind("integer overflow")


def test_verdicts():
    ret = Observed("return", values=[i32(1)])
    assert verdict(ret, Observed("return", values=[i32(1)]))[0] == "pass"
    assert verdict(ret, Observed("return", values=[i32(2)]))[0] == "wrong_result"
    assert verdict(ret, Observed("trap", message="integer divide by zero"))[0] == "wrong_trap"
    trap = Observed("trap", message="wasm trap: integer divide by zero")
    assert verdict(trap, Observed("trap", message="integer divide by zero"))[0] == "pass"
    assert verdict(trap, Observed("trap", message="integer overflow"))[0] == "wrong_trap"
    assert verdict(Observed("inconclusive", message="call stack exhausted"), ret)[0] == "step_limit"
    assert verdict(ret, Observed("unsupported", message="unsupported(i64)"))[0] == "unsupported"
    nan1, nan2 = Value("f32", 0x7FC00000), Value("f32", 0xFFC00000)
    assert verdict(Observed("return", values=[nan1]), Observed("return", values=[nan2]))[0] == "pass"


MODULE = """(module
  (memory (export "mem") 1)
  (global (export "g") (mut i32) (i32.const 0))
  (func (export "f") (param i32 i32) (result i32)
    (global.set 0 (i32.xor (local.get 0) (local.get 1)))
    (i32.store (i32.const 8) (global.get 0))
    (i32.div_u (i32.const 10) (local.get 1))))"""


def test_the_reference_agrees_with_wasmtime_on_results_traps_globals_and_memory():
    case = _case(MODULE, Call("f", (i32(3), i32(5))), Call("f", (i32(1), i32(0))), Call("f", (i32(7), i32(2))))
    rows = Differential([make_executor("reference")]).check(case).rows
    assert [r["status"] for r in rows] == ["pass"] * 4
    assert [r["kind"] for r in rows] == ["module", "assert_return", "assert_trap", "assert_return"]
    assert rows[2]["expected"] == "trap: integer divide by zero"


def test_the_comparison_finds_a_planted_mismatch_in_state():
    # the result does not depend on xor: only the global and the memory differ
    case = _case(MODULE, Call("f", (i32(3), i32(5))))
    rows = Differential([XorFlippedReference()]).check(case).rows
    assert rows[1]["status"] == "wrong_result"
    assert rows[1]["message"].startswith("global g after call 1")


def test_the_comparison_finds_a_planted_wrong_result_and_stops_there():
    text = '(module (func (export "x") (param i32 i32) (result i32) (i32.xor (local.get 0) (local.get 1))))'
    case = _case(text, Call("x", (i32(3), i32(5))), Call("x", (i32(0), i32(0))))
    rows = Differential([XorFlippedReference()]).check(case).rows
    assert [r["status"] for r in rows] == ["pass", "wrong_result"]
    assert rows[1]["expected"] == "i32:6" and rows[1]["actual"] == "i32:7"


# an unbounded recursion with wide frames: the transformer's call stack (15,000 cells) runs out in a few hundred
# steps; the global counts the frames, so a later call reads how deep the executor went
DEEP = """(module
  (global $n (export "n") (mut i32) (i32.const 0))
  (func $f (export "f") (param i64) (result i64)
    (local i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64
           i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (i64.add (local.get 0) (call $f (local.get 0))))
  (func (export "h") (result i32) (global.get $n)))"""


class Tampered(Executor):
    """STAND-IN planted fault (test only): the transformer on cpu-f64-hull with its outcomes changed by ``tamper``."""

    name = "transformer"
    traces = True

    def __init__(self, tamper):
        self.inner = make_executor("transformer", "cpu-f64-hull")
        self.config, self.tamper = self.inner.config, tamper

    def open_session(self) -> Session:
        return _TamperedSession(self.inner.open_session(), self.tamper)


def _exhaustion_rows(target):
    case = _case(DEEP, Call("f", (Value("i64", 1),)), Call("h", ()))
    return Differential([target]).check(case).rows


def test_a_transformer_exhaustion_is_checked_against_the_reference_trace_at_its_call_depth():
    rows = _exhaustion_rows(make_executor("transformer", "cpu-f64-hull"))
    assert [(r["kind"], r["status"]) for r in rows] == [("module", "pass"), ("assert_exhaustion", "pass")]
    assert rows[1]["steps"] > 100  # the wide frames exhaust the 15,000 cells in a few hundred steps
    # call "h" reads how deep each engine went: the depths differ, so it is not compared


def test_an_exhaustion_with_a_wrong_trace_is_a_trace_divergence():
    from reference_model.errors import Exhaustion

    def drop_last_record(invoke):
        try:
            return invoke()
        except Exhaustion as e:
            e.trace = e.trace[:-1]
            raise

    rows = _exhaustion_rows(Tampered(drop_last_record))
    assert rows[1]["kind"] == "assert_exhaustion" and rows[1]["status"] == "trace_divergence"
    assert "of the exhaustion" in rows[1]["message"]


def test_an_exhaustion_where_the_reference_returns_is_a_wrong_trap():
    from reference_model.errors import Exhaustion

    def exhaust_instead(invoke):
        inv = invoke()
        e = Exhaustion("call stack exhausted")
        e.trace, e.steps, e.cells = inv.trace, inv.steps, inv.cells
        raise e

    case = _case(DEEP, Call("h", ()))
    rows = Differential([Tampered(exhaust_instead)]).check(case).rows
    assert rows[1]["status"] == "wrong_trap"
    assert "trace oracle with the executor's call stack returned" in rows[1]["message"]


def test_a_pass_whose_trace_the_oracle_could_not_check_says_so():
    """The reference interpreter declines a typed-reference table that the transformer lays out: the call's values
    pass against wasmtime, and the row says its trace is unchecked; the same call without the table is checked."""
    func = '(func (export "f") (param i32) (result i32) (i32.add (local.get 0) (i32.const 7)))'
    transformer = make_executor("transformer", "cpu-f64-hull")
    typed = _case(f'(module (type $t (func)) (func $tf) (table (ref null $t) (elem $tf)) {func})', Call("f", (i32(1),)))
    plain = _case(f'(module (type $t (func)) (func $tf) {func})', Call("f", (i32(1),)))
    rows = Differential([transformer]).check(typed).rows
    assert [r["status"] for r in rows] == ["pass", "pass"]
    assert rows[1]["message"] == "trace not checked: the trace oracle could not instantiate the module"
    checked = Differential([transformer]).check(plain).rows
    assert checked[1]["status"] == "pass" and checked[1]["message"] == ""
    assert checked[1]["trace_hash"] == rows[1]["trace_hash"]


def test_memory_bytes_are_read_through_the_session():
    wasm = wasmtime.wat2wasm(MODULE)
    for name in ("wasmtime", "reference"):
        s = make_executor(name).open_session()
        inst = s.instantiate(wasm)
        s.invoke(inst, "f", [i32(3), i32(5)])
        mem = s.memory(inst, "mem")
        assert len(mem) == 65536 and mem[8:12] == (6).to_bytes(4, "little")


# --- campaign, shrinking, regression scripts -------------------------------------------


def test_reference_and_wasmtime_agree_on_a_short_campaign():
    result = run_campaign(i32_programs(), Differential([make_executor("reference")]), seconds=8, seed=3)
    assert result.cases > 10 and not result.findings
    assert set(r["status"] for r in result.rows) <= {"pass", "step_limit", "unsupported"}


def test_a_planted_fault_is_found_shrunk_and_saved_and_the_script_reproduces_it(tmp_path):
    faulty = XorFlippedReference()
    result = run_campaign(i32_programs(), Differential([faulty]), seconds=100, seed=7, max_findings=1,
                          regressions=tmp_path, shrink_seconds=60)
    assert result.findings, "the planted xor fault was not found"
    finding = result.findings[0]
    assert finding.failure.status in ("wrong_result", "trace_divergence", "wrong_trap")
    assert finding.instructions <= 8, finding.script.read_text()
    text = finding.script.read_text()
    assert "i32.xor" in text and ";; executor: xor-flipped-reference" in text
    # the script reproduces the status on the faulty executor (what `wasmconf run` does, in process) ...
    script = load_script(finding.script, finding.script.name)
    base = base_row(RunSpec(executor=faulty.name, config=None), faulty)
    rows = list(ScriptRunner(script, faulty, base, oracle=make_executor("reference")).rows())
    assert finding.failure.status in [r["status"] for r in rows]
    # ... and passes on the reference interpreter through the CLI (its expectations are wasmtime's)
    proc = subprocess.run([WASMCONF, "run", str(finding.script), "--executor", "reference", "-q", "-j", "1",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = pd.read_parquet(tmp_path / "run" / "results.parquet")
    assert (frame["status"] == "pass").all()


def test_a_regression_script_reproduces_a_trap_mismatch(tmp_path):
    # d(5) gives 1 / 4 = 0 (flipped: 1 / 5 = 0); d(0) divides by 1 (flipped: by 0, a trap)
    text = '(module (func (export "d") (param i32) (result i32) (i32.div_s (i32.const 1) (i32.xor (local.get 0) (i32.const 1)))))'
    case = _case(text, Call("d", (i32(5),)), Call("d", (i32(0),)))
    faulty = XorFlippedReference(traces=False)  # without traces d(5) passes
    rows = Differential([faulty]).check(case).rows
    failing = [r for r in rows if r["status"] != "pass"]
    assert [r["status"] for r in failing] == ["wrong_trap"]
    path = save_regression(tmp_path, "trap", regression_script(case, failing[0], seed=None))
    body = path.read_text()
    assert '(assert_return (invoke "d" (i32.const 5)) (i32.const 0))' in body
    assert body.rstrip().endswith('(assert_return (invoke "d" (i32.const 0)) (i32.const 1))')
    script = load_script(path, path.name)
    got = [r["status"] for r in ScriptRunner(script, faulty, base_row(RunSpec(executor=faulty.name, config=None), faulty)).rows()]
    assert got[-1] == "wrong_trap"
    assert Failure.of_row(failing[0]).found_in(rows) is failing[0]


# --- CLI ------------------------------------------------------------------------------------


def test_cli_fuzz_writes_results_that_report_and_gate_read(tmp_path):
    out = tmp_path / "fuzz"
    proc = subprocess.run([WASMCONF, "fuzz", "--seconds", "4", "--generator", "i32", "--seed", "1", "--out", str(out),
                           "--no-save", "-q"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "cases/s" in proc.stdout and "reference" in proc.stdout
    frame = pd.read_parquet(out / "results.parquet")
    assert len(frame) > 0 and set(frame["suite"]) == {"fuzz"} and "unexpected" in frame
    meta = json.loads((out / "run.json").read_text())
    assert meta["cases"] > 0 and set(meta["executor_rates"]) == {"wasmtime", "reference"}
    gate = subprocess.run([WASMCONF, "gate", str(out), "--no-retry"], capture_output=True, text=True)
    assert gate.returncode == 0, gate.stdout + gate.stderr


@pytest.mark.parametrize("args, words", [
    (["--seconds", "0"], "--seconds"),
    (["--executor", "bogus"], "unknown executor"),
    (["--config", "cpu-f64-dense"], "--config applies"),
    (["--executor", "transformer", "--config", "tpu-f64-dense"], "unknown config"),
])
def test_cli_fuzz_rejects_bad_input_in_one_line(args, words):
    proc = subprocess.run([WASMCONF, "fuzz", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert words in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


# --- weight-level faults (reference_model/faults.py) ----------------------------------------


def test_the_xor_fault_silences_exactly_the_xor_units():
    from reference_model.faults import FAULTS, fault_of_variant, ffn_units
    from reference_model.weights import compiled_state

    config, state = compiled_state()
    faulty = FAULTS["xor"].apply(config, state)
    changed = [k for k in state if not torch.equal(state[k], faulty[k])]
    units = ffn_units("i32.xor")
    assert len(units) == 64 and changed == [f"ffn.{units[0][0]}.w_out"]
    layer_rows = {c for _, c in units}
    w, w_faulty = state[changed[0]], faulty[changed[0]]
    assert all(not w_faulty[c].any() for c in layer_rows) and w[sorted(layer_rows)].any()
    assert fault_of_variant("fault_xor") is FAULTS["xor"] and fault_of_variant("") is None
    with pytest.raises(KeyError):
        fault_of_variant("fault_nonesuch")


@pytest.mark.slow
def test_a_planted_weight_fault_is_found_and_shrunk(tmp_path):
    """The done-criterion with the real transformer: cpu-f64-dense-fault_xor, small i32 programs."""
    faulty = make_executor("transformer", "cpu-f64-dense-fault_xor", max_steps=500)
    strategy = i32_programs(max_funcs=1, max_depth=2, max_stmts=2, loops=False, calls_per_export=1)
    result = run_campaign(strategy, Differential([faulty]), seconds=600, seed=7, max_findings=1,
                          regressions=tmp_path, shrink_seconds=90)
    assert result.findings
    assert result.findings[0].instructions <= 8


def test_wasm_shrink_out_of_time_returns_the_smallest_seen_and_leaves_no_check_running():
    import threading
    import time

    from harness.fuzz.shrink import wasm_shrink

    body = " ".join(f"(i32.add (i32.const {k}))" for k in range(30))
    text = f'(module (func (export "f") (param i32) (result i32) (local.get 0) {body}))'
    case = _case(text, Call("f", (i32(1),)))
    running, hits = threading.Semaphore(0), []

    def slow_but_interesting(c: FuzzCase):
        running.release()
        time.sleep(0.2)
        hit = "f" in dict(function_exports(c.wasm))
        if hit:
            hits.append(len(c.wasm))
        running.acquire()
        return {"status": "wrong_result"} if hit else None

    got = wasm_shrink(case, slow_but_interesting, attempts=10_000, timeout=2.0)
    assert not running.acquire(blocking=False)  # no check is still running
    assert hits and len(got.wasm) == min(hits + [len(case.wasm)]) < len(case.wasm)
