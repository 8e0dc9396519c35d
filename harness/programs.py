"""Real programs: small C sources in ``programs/``, compiled to wasm with the pip package ``ziglang``.

Each program has calls whose results are worked out here in Python,
independently of the C code (``zlib.crc32``, a brute-force assignment over
all permutations, ...), so a wrong compile, a wrong C program or a wrong
oracle shows up as a mismatch.  ``build()`` compiles every source, checks
each call on wasmtime against its Python result, and writes the binaries to
``programs/wasm/`` and the script ``conformance/wast/c_programs.wast``
(one ``(module binary ...)`` per program, one ``assert_return`` per call),
so every executor and config runs them through ``wasmconf run``.

    .venv/bin/python -m harness.programs          # rebuild (needs ziglang: pip install -e '.[programs]')
"""
from __future__ import annotations

import itertools
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Callable, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "programs"
WASM = SOURCES / "wasm"
SCRIPT = ROOT / "conformance" / "wast" / "c_programs.wast"
# -fno-builtin and no store merging: the sources use 8- and 32-bit data only, and these keep clang from turning
# zeroing loops and neighbouring i32 stores into 64-bit stores (chosen when the transformer had no i64; kept so
# the binaries stay as they were: hash64 is the i64 program)
FLAGS = ["--target=wasm32-freestanding", "-O2", "-fno-builtin", "-mllvm", "-combiner-store-merging=0", "-nostdlib",
         "-Wl,--no-entry", "-Wl,-z,stack-size=4096", "-Wl,--strip-all"]
M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


class Call(NamedTuple):
    args: tuple  # (type, value) per parameter: ("i32", 5)
    result: tuple  # (type, bits)


class Program(NamedTuple):
    name: str  # programs/<name>.c
    export: str
    calls: list


# -- the results, worked out independently ------------------------------------
PUZZLES = [
    "003020600900305001001806400008102900700000008006708200002609500800203009005010300",
    "200080300060070084030500209000105408000000000402706000301007040720040060004010003",
    "800000000003600000070090200050007000000045700000100030001000068008500010096318452",
]


def sudoku(k: int) -> int:
    """Checksum (h = h * 31 + digit, mod 2^32) of the solved grid of puzzle k."""
    h = 0
    for d in sudoku_grid(k):
        h = (h * 31 + d) & M32
    return h


def sudoku_grid(k: int) -> list:
    """The solved grid of puzzle k (search on the most constrained cell first: not the C program's order)."""
    grid = [int(c) for c in PUZZLES[k]]

    def options(pos):
        r, c = divmod(pos, 9)
        seen = {grid[r * 9 + i] for i in range(9)} | {grid[i * 9 + c] for i in range(9)}
        seen |= {grid[(r - r % 3 + i) * 9 + c - c % 3 + j] for i in range(3) for j in range(3)}
        return [d for d in range(1, 10) if d not in seen]

    def search():
        empty = [p for p in range(81) if not grid[p]]
        if not empty:
            return True
        pos = min(empty, key=lambda p: len(options(p)))  # most constrained cell first (not the C program's order)
        for d in options(pos):
            grid[pos] = d
            if search():
                return True
        grid[pos] = 0
        return False

    assert search(), k
    return grid


def hungarian(n: int, seed: int) -> int:
    """Minimum-cost assignment of the C program's cost matrix, by trying every permutation."""
    s, a = seed, []
    for _ in range(n):
        row = []
        for _ in range(n):
            s = (s * 1103515245 + 12345) & M32
            row.append((s >> 16) % 100)
        a.append(row)
    return min(sum(a[i][p[i]] for i in range(n)) for p in itertools.permutations(range(n)))


def sieve(n: int) -> int:
    return sum(1 for k in range(2, n) if all(k % d for d in range(2, int(k**0.5) + 1)))


def crc32(length: int) -> int:
    return zlib.crc32(bytes((i * 7 + 3) & 255 for i in range(length)))


def mix(n: int, seed: int) -> int:
    x, acc = seed, 0
    for _ in range(n):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        acc ^= z
        acc = ((acc << 5) | (acc >> 59)) & M64
    return acc


def _i32(*args: int) -> tuple:
    return tuple(("i32", a & M32) for a in args)


PROGRAMS = [
    Program("sudoku", "solve", [Call(_i32(k), ("i32", sudoku(k))) for k in range(len(PUZZLES))]),
    Program("hungarian", "hungarian", [Call(_i32(n, seed), ("i32", hungarian(n, seed))) for n, seed in ((3, 7), (8, 42))]),
    Program("sieve", "sieve", [Call(_i32(n), ("i32", sieve(n))) for n in (100, 10000)]),
    Program("crc32", "crc32", [Call(_i32(n), ("i32", crc32(n))) for n in (0, 9, 1000)]),
    Program("hash64", "mix", [Call((("i32", n), ("i64", seed)), ("i64", mix(n, seed))) for n, seed in ((1, 0), (500, 12345))]),
]


# -- build --------------------------------------------------------------------
def compile_c(source: Path, export: str) -> bytes:
    """The wasm binary of one C source (``python -m ziglang cc``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.wasm"
        cmd = [sys.executable, "-m", "ziglang", "cc", *FLAGS, f"-Wl,--export={export}", "-o", str(out), str(source)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"compiling {source.name} failed: {done.stderr.strip()}")
        return out.read_bytes()


def wasmtime_call(binary: bytes, export: str, args: tuple, result_type: str) -> tuple:
    """(type, bits) of what wasmtime returns for one call."""
    import wasmtime

    store = wasmtime.Store()
    inst = wasmtime.Instance(store, wasmtime.Module(store.engine, binary), [])
    value = inst.exports(store)[export](store, *(_signed(t, v) for t, v in args))
    return result_type, value & (M64 if result_type == "i64" else M32)


def _signed(t: str, v: int) -> int:
    bits = 64 if t == "i64" else 32
    return v - (1 << bits) if v >> (bits - 1) else v


def script(binaries: dict) -> str:
    """The .wast text: each program as a binary module, each call as an assert_return."""
    lines = [";; C programs of programs/ (compiled with ziglang; see harness/programs.py). Generated: do not edit.", ""]
    for p in PROGRAMS:
        escaped = "".join(f"\\{b:02x}" for b in binaries[p.name])
        lines.append(f"(module ${p.name} binary")
        lines += [f'  "{escaped[i:i + 96]}"' for i in range(0, len(escaped), 96)]
        lines.append(")")
        for c in p.calls:
            args = " ".join(f"({t}.const 0x{v:x})" for t, v in c.args)
            lines.append(f'(assert_return (invoke ${p.name} "{p.export}" {args}) ({c.result[0]}.const 0x{c.result[1]:x}))')
        lines.append("")
    return "\n".join(lines)


def build(out_wasm: Path = WASM, out_script: Path = SCRIPT) -> dict:
    """Compile every program, check each call on wasmtime against Python, write the binaries and the script."""
    binaries = {}
    for p in PROGRAMS:
        binary = compile_c(SOURCES / f"{p.name}.c", p.export)
        for c in p.calls:
            got = wasmtime_call(binary, p.export, c.args, c.result[0])
            if got != c.result:
                raise RuntimeError(f"{p.name}.{p.export}{c.args}: wasmtime gives {got}, Python {c.result}")
        binaries[p.name] = binary
    out_wasm.mkdir(parents=True, exist_ok=True)
    for name, binary in binaries.items():
        (out_wasm / f"{name}.wasm").write_bytes(binary)
    out_script.write_text(script(binaries))
    return binaries


def main() -> int:
    try:
        binaries = build()
    except (RuntimeError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for p in PROGRAMS:
        print(f"{p.name}.wasm: {len(binaries[p.name])} bytes, {len(p.calls)} calls checked on wasmtime")
    print(f"wrote {SCRIPT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
