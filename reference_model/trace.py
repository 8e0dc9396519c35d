"""The canonical execution trace: one TraceRecord per executed instruction.

The format is specified in docs/trace.md; this module is its executable
form.  Both the reference interpreter and the transformer executor produce
lists of TraceRecord, and the harness compares them field by field.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import Iterable, NamedTuple


class Write(NamedTuple):
    """One state write made by an instruction.

    kind   'local' | 'global' | 'memory' | 'table'
    index  local index, global index, memory index or table index
    addr   memory: byte address; table: element index; otherwise 0
    value  local/global: the value's bits; memory: the bytes written (bytes);
           table: the reference payload (None for null)
    """

    kind: str
    index: int
    addr: int
    value: object


@dataclass(frozen=True, slots=True)
class TraceRecord:
    """What one executed instruction did (see docs/trace.md)."""

    step: int  # 0-based position in the invocation's trace
    depth: int  # call depth; 0 = the invoked function
    func: int  # function index in its module's function index space
    pc: int  # instruction index within the function body (`end` counts)
    op: str  # mnemonic, as in the text format: "i32.add", "br_if", "end"
    pushed: tuple = ()  # bits of the values pushed, in push order
    height: int = 0  # operand-stack height of the current frame afterwards
    writes: tuple = field(default=())  # Write records, in the order made

    def canonical(self) -> str:
        """One line of text that hashing and comparison use."""
        pushed = ",".join(_fmt(v) for v in self.pushed)
        writes = ";".join(f"{w.kind}:{w.index}:{w.addr}:{_fmt(w.value)}" for w in self.writes)
        return f"{self.step} {self.depth} {self.func} {self.pc} {self.op} [{pushed}] {self.height} [{writes}]"


FIELDS = tuple(f.name for f in fields(TraceRecord))


def _fmt(v: object) -> str:
    if isinstance(v, (bytes, bytearray)):
        return "b" + bytes(v).hex()
    if v is None:
        return "null"
    if isinstance(v, int):
        return format(v, "x")
    return str(v)


def trace_hash(records: Iterable[TraceRecord]) -> str:
    """sha256 (hex, first 16 digits) over the canonical lines of the records."""
    h = hashlib.sha256()
    for r in records:
        h.update(r.canonical().encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


class Divergence(NamedTuple):
    """The first difference between two traces."""

    step: int
    field: str
    expected: str
    actual: str


def first_divergence(expected: list[TraceRecord], actual: list[TraceRecord]) -> Divergence | None:
    """The first record and field where two traces differ, or None if identical."""
    for i, (e, a) in enumerate(zip(expected, actual)):
        if e != a:
            for name in FIELDS:
                ev, av = getattr(e, name), getattr(a, name)
                if ev != av:
                    return Divergence(i, name, repr(ev), repr(av))
    if len(expected) != len(actual):
        n = min(len(expected), len(actual))
        return Divergence(n, "length", str(len(expected)), str(len(actual)))
    return None
