"""What the fuzzing stages hand each other: a module and the calls to make on it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from reference_model.values import Value


@dataclass(frozen=True)
class Call:
    """One invocation of an exported function."""

    export: str
    args: tuple[Value, ...]

    def __str__(self) -> str:
        return f"{self.export}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True)
class FuzzCase:
    """A module (binary, and its text when generated as text) and the calls made on it, in order.

    Calls share one instance, so later calls see the globals and memory
    earlier calls left behind.
    """

    generator: str  # "smith", "i32", "loops", "regression", ...
    wasm: bytes
    calls: tuple[Call, ...]
    text: str | None = None

    @property
    def digest(self) -> str:
        """12 hex digits naming the module and its calls."""
        h = hashlib.sha256(self.wasm)
        for c in self.calls:
            h.update(str(c).encode())
        return h.hexdigest()[:12]

    @property
    def name(self) -> str:
        """The case's name in result rows: ``fuzz/<generator>/<digest>``."""
        return f"fuzz/{self.generator}/{self.digest}"

    def __repr__(self) -> str:  # hypothesis prints falsifying examples: keep it readable
        return f"FuzzCase({self.generator}, {len(self.wasm)} bytes, calls=[{'; '.join(map(str, self.calls))}])"
