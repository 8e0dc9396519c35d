"""The C programs of programs/: binaries, independent results, the generated script, the executors."""
from __future__ import annotations

import importlib.util
import zlib

import pandas as pd
import pytest

from harness import programs as P
from test_cli import wasmconf


def _binary(name: str) -> bytes:
    return (P.WASM / f"{name}.wasm").read_bytes()


@pytest.mark.parametrize("program", P.PROGRAMS, ids=lambda p: p.name)
def test_wasmtime_gives_the_python_results(program):
    """Every call of the committed binary, on wasmtime, equals the result worked out in Python."""
    for call in program.calls:
        assert P.wasmtime_call(_binary(program.name), program.export, call.args, call.result[0]) == call.result


def test_the_python_results_are_right_where_known():
    assert zlib.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value
    assert P.crc32(3) == zlib.crc32(bytes([3, 10, 17]))
    assert P.sieve(100) == 25 and P.sieve(10000) == 1229
    assert P.mix(0, 7) == 0
    for k, puzzle in enumerate(P.PUZZLES):  # a solved grid keeps the givens and is a Sudoku
        grid = P.sudoku_grid(k)
        assert all(c == "0" or int(c) == d for c, d in zip(puzzle, grid))
        units = [[r * 9 + c for c in range(9)] for r in range(9)] + [[r * 9 + c for r in range(9)] for c in range(9)]
        units += [[(br + i) * 9 + bc + j for i in range(3) for j in range(3)] for br in (0, 3, 6) for bc in (0, 3, 6)]
        assert all(sorted(grid[i] for i in u) == list(range(1, 10)) for u in units)


def test_a_wrong_result_is_caught():
    """A result off by one is not what wasmtime returns (the check above can fail)."""
    p = P.PROGRAMS[2]  # sieve
    call = p.calls[1]
    assert P.wasmtime_call(_binary(p.name), p.export, call.args, "i32") != ("i32", call.result[1] + 1)


def test_the_script_is_generated_from_the_binaries():
    """conformance/wast/c_programs.wast is what harness.programs writes for the committed binaries."""
    assert P.SCRIPT.read_text() == P.script({p.name: _binary(p.name) for p in P.PROGRAMS})


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang not installed (pip install -e '.[programs]')")
def test_sources_compile_to_the_committed_binaries():
    for p in P.PROGRAMS:
        assert P.compile_c(P.SOURCES / f"{p.name}.c", p.export) == _binary(p.name), p.name


def test_reference_interpreter_runs_every_program(tmp_path):
    """All calls pass on the reference interpreter (the Sudoku's third puzzle is about 1.5 million steps)."""
    proc = wasmconf("run", "--executor", "reference", str(P.SCRIPT), "-q", "--out", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(tmp_path / "r" / "results.parquet")
    calls = df[df["kind"] == "assert_return"]
    assert len(calls) == sum(len(p.calls) for p in P.PROGRAMS) and (calls["status"] == "pass").all()
    assert calls["steps"].max() > 1_000_000
