"""A failing case made small and saved as a .wast regression script.

Hypothesis shrinks a failing case first (the campaign re-checks every
candidate for the *same* failure: executor, status and export).  Then
``wasm-tools shrink`` reduces the module further: its interestingness
predicate is a tiny script that asks this process, over a Unix socket,
whether a candidate module still fails the same way, so each check costs
one comparison, not a fresh interpreter or a model compile.

The saved script holds the module as text (``wasm-tools print``), the
calls up to the failing one as assert_return / assert_trap with wasmtime's
outcome as the expectation, and a header comment with the seed, the
executor and config, and the status observed.  ``wasmconf run`` runs every
``conformance/regressions/*.wast``.
"""
from __future__ import annotations

import math
import os
import socketserver
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from reference_model.values import Value, is_nan, signed

from .case import Call, FuzzCase
from .compare import Differential, trap_kind
from .generate import function_exports, wasm_tools


@dataclass(frozen=True)
class Failure:
    """What makes a case interesting: this executor gives this status on a call of this export."""

    executor: str  # label, e.g. "transformer:cpu-f64-dense"
    status: str
    export: str  # "" for the instantiation

    @classmethod
    def of_row(cls, row: dict) -> "Failure":
        from .compare import label_of_row

        return cls(label_of_row(row), row["status"], row["export"])

    def found_in(self, rows: list[dict]) -> dict | None:
        """The first row showing this failure, or None."""
        from .compare import label_of_row

        for r in rows:
            if label_of_row(r) == self.executor and r["status"] == self.status and r["export"] == self.export:
                return r
        return None


def still_failing(differential: Differential, failure: Failure) -> Callable[[FuzzCase], dict | None]:
    """A predicate: the row reproducing ``failure`` when ``case`` runs, or None."""

    def check(case: FuzzCase) -> dict | None:
        try:
            result = differential.check(case)
        except Exception:  # noqa: BLE001 - a candidate wasmtime cannot even read is not interesting
            return None
        return failure.found_in(result.rows)

    return check


def with_calls_that_fit(case: FuzzCase, wasm: bytes) -> FuzzCase:
    """``case``'s calls on another module: those whose export still exists with the same parameters."""
    sigs = dict(function_exports(wasm))
    calls = tuple(c for c in case.calls if c.export in sigs and tuple(a.type for a in c.args) == sigs[c.export])
    return FuzzCase(case.generator, wasm, calls)


class _Checker(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        path = self.rfile.readline().decode().strip()
        try:
            wasm = Path(path).read_bytes()
            ok = self.server.predicate(wasm)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001
            ok = False
        self.wfile.write(b"1" if ok else b"0")


_PREDICATE = """#!{python} -IS
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect({sock!r})
s.sendall(sys.argv[1].encode() + b"\\n")
sys.exit(0 if s.recv(1) == b"1" else 1)
"""


def wasm_shrink(case: FuzzCase, interesting: Callable[[FuzzCase], dict | None], *, attempts: int = 200,
                seed: int = 42, timeout: float = 300.0) -> FuzzCase:
    """The smallest module ``wasm-tools shrink`` finds on which ``interesting`` still holds (``case`` if none).

    Calls keep their order; a shrunk module keeps the calls whose export
    survived with the same parameters.  After ``timeout`` seconds the
    smallest interesting module seen so far is the answer.
    """
    if not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be a positive int, got {attempts!r}")
    with tempfile.TemporaryDirectory(prefix="wasmconf-shrink-") as tmp:
        sock = os.path.join(tmp, "check.sock")

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        lock = threading.Lock()

        best, stopped = [case], threading.Event()

        def predicate(wasm: bytes) -> bool:
            with lock:  # executors are not thread-safe
                if stopped.is_set():  # out of time: wasm-tools is gone, answer at once
                    return False
                candidate = with_calls_that_fit(case, wasm)
                hit = interesting(candidate) is not None
                if hit and len(candidate.wasm) < len(best[0].wasm):
                    best[0] = candidate
                return hit

        server = Server(sock, _Checker)
        server.predicate = predicate  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            script = Path(tmp) / "predicate"
            script.write_text(_PREDICATE.format(python=sys.executable, sock=sock))
            script.chmod(script.stat().st_mode | stat.S_IXUSR)
            src, out = Path(tmp) / "in.wasm", Path(tmp) / "out.wasm"
            src.write_bytes(case.wasm)
            try:
                proc = subprocess.run([wasm_tools(), "shrink", str(script), str(src), "-o", str(out),
                                       "--attempts", str(attempts), "--seed", str(seed)],
                                      capture_output=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                stopped.set()
                with lock:  # let a check in flight finish: torch must not run in a thread at exit
                    return best[0]
            if proc.returncode != 0 or not out.exists():
                return best[0]
            shrunk = with_calls_that_fit(case, out.read_bytes())
            return shrunk if len(shrunk.wasm) < len(case.wasm) and interesting(shrunk) is not None else case
        finally:
            server.shutdown()
            server.server_close()


# --- .wast text --------------------------------------------------------------------


def _float_text(t: str, bits: int) -> str:
    width, frac_bits = (32, 23) if t == "f32" else (64, 52)
    sign = "-" if bits >> (width - 1) else ""
    if is_nan(Value(t, bits)):
        return f"{sign}nan:{bits & ((1 << frac_bits) - 1):#x}"
    x = struct.unpack("<f", struct.pack("<I", bits))[0] if t == "f32" else struct.unpack("<d", struct.pack("<Q", bits))[0]
    if math.isinf(x):
        return f"{sign}inf"
    return x.hex() if x != 0 or not sign else "-0x0p+0"


def const_text(v: Value) -> str:
    """A value as a .wast constant, exact to the bit, e.g. ``(f32.const nan:0x400000)``."""
    if v.type in ("i32", "i64"):
        return f"({v.type}.const {signed(v.bits, 32 if v.type == 'i32' else 64)})"
    if v.type in ("f32", "f64"):
        return f"({v.type}.const {_float_text(v.type, v.bits)})"
    if v.type == "v128":
        return f"(v128.const i64x2 {v.bits & (2**64 - 1)} {v.bits >> 64})"
    heap = "func" if v.type == "funcref" else "extern"
    return f"(ref.null {heap})" if v.bits is None else f"(ref.{heap})"


def expected_text(v: Value) -> str:
    """A result as a .wast expectation; a NaN becomes its class (smith canonicalises NaNs)."""
    if v.type in ("f32", "f64") and is_nan(v):
        from .generate import CANONICAL_NAN

        canonical = v.bits & ~(1 << (31 if v.type == "f32" else 63)) == CANONICAL_NAN[v.type]
        return f"({v.type}.const nan:{'canonical' if canonical else 'arithmetic'})"
    return const_text(v)


def _invoke_text(call: Call) -> str:
    return f'(invoke "{call.export}"{"".join(" " + const_text(a) for a in call.args)})'


def module_text(wasm: bytes) -> str:
    """The module in the text format (``wasm-tools print``)."""
    proc = subprocess.run([wasm_tools(), "print"], input=wasm, capture_output=True, check=True)
    return proc.stdout.decode()


def regression_script(case: FuzzCase, row: dict, *, seed: int | None, found_by: str = "") -> str:
    """The .wast text reproducing ``row`` (a failing row of ``case``): module, calls, header comment."""
    from ..executors import make_executor

    failing_line = int(row["line"])
    session = make_executor("wasmtime").open_session()
    header = [
        f";; wasmconf fuzz regression: {case.generator} case {case.digest}",
        f";; found by: {found_by or 'wasmconf fuzz'}  (seed {seed if seed is not None else 'random'})",
        f";; executor: {row['executor']}  config: {row['config']}",
        f";; observed: {row['status']} at "
        + (f"call {failing_line} {row['export']}({row['args']})" if failing_line else "instantiation")
        + f": expected {row['expected']}, got {row['actual']}" + (f" ({row['message']})" if row["message"] else ""),
        ";; expectations below are wasmtime's outcomes",
    ]
    body = [module_text(case.wasm).rstrip()]
    try:
        instance = session.instantiate(case.wasm)
    except Exception as e:  # noqa: BLE001 - the oracle trapped while instantiating
        body[0] = f'(assert_trap {body[0]}\n  "{trap_kind(getattr(e, "message", str(e)))}")'
        return "\n".join(header + body) + "\n"
    from reference_model.errors import Exhaustion, Trap

    for n, call in enumerate(case.calls[:failing_line], start=1):
        try:
            inv = session.invoke(instance, call.export, list(call.args))
            results = "".join(" " + expected_text(v) for v in inv.values)
            body.append(f"(assert_return {_invoke_text(call)}{results})")
        except Exhaustion as e:
            body.append(f'(assert_exhaustion {_invoke_text(call)} "{trap_kind(e.message)}")')
        except Trap as e:
            body.append(f'(assert_trap {_invoke_text(call)} "{trap_kind(e.message)}")')
        if n == failing_line and str(row["message"]).startswith("global "):
            name = str(row["message"]).split()[1]
            body.append(f'(assert_return (get "{name}") {expected_text(session.get(instance, name))})')
        if n == failing_line and str(row["message"]).startswith("memory "):
            body.append(";; the difference is in memory, which .wast cannot assert: compare with `wasmconf invoke`")
    return "\n".join(header + body) + "\n"


def save_regression(directory: Path, name: str, text: str) -> Path:
    """Write ``text`` as ``directory/<name>.wast`` (creating the folder); the path written."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.wast"
    path.write_text(text)
    return path
