"""Differential test: wasm-smith modules run the same on the reference interpreter and on wasmtime.

Hypothesis draws the bytes smith builds a module from, and a seed for the
edge-biased arguments (0, 1, -1, MIN, MAX, NaN, +-inf, ...); shrinking the
bytes shrinks the module.  Kept to 50 examples so the fast suite stays
fast; ``benchmarks/bench_smith_diff.py`` runs many more.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.smith_diff import diff_bytes, diff_module
from interp_util import wat


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(min_size=32, max_size=2048), seed=st.integers(0, 2**16))
def test_reference_matches_wasmtime_on_smith_modules(data, seed):
    report = diff_bytes(data, seed=seed)
    assert not report.mismatches, report.mismatches


MODULE = """(module
  (memory (export "m") 1)
  (global (export "g") (mut i32) (i32.const 0))
  (func (export "f") (param i32 f32) (result i32)
    (global.set 0 (local.get 0))
    (i32.store (i32.const 0) (i32.trunc_sat_f32_s (local.get 1)))
    (i32.div_u (i32.const 10) (local.get 0))))"""


def test_an_ordinary_module_compares_equal_across_calls():
    report = diff_module(wat(MODULE), seed=3, calls_per_export=8)
    assert report.calls == 8 and not report.mismatches and report.skipped is None


def test_the_differential_check_reports_a_wrong_operator(monkeypatch):
    from reference_model.interpreter import numerics

    monkeypatch.setitem(numerics.I32, "div_u", lambda a, b: 0 if b == 0 else (a // b) + 1)
    report = diff_module(wat(MODULE), seed=3, calls_per_export=8)
    assert report.mismatches and report.mismatches[0].where == "call f"
