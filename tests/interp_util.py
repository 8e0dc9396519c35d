"""Helpers for the interpreter tests: WAT -> instance, and calls with plain ints."""
from __future__ import annotations

import subprocess

from harness.smith_diff import wasm_tools
from reference_model.interpreter import Store, invoke, load
from reference_model.values import Value


def wat(text: str) -> bytes:
    """The binary of a WAT module (wasm-tools parse)."""
    return subprocess.run([wasm_tools(), "parse", "-"], input=text.encode(), capture_output=True,
                          check=True).stdout


def instance(text: str, store: Store | None = None, imports: dict | None = None):
    """(store, instance) of a WAT module; ``imports`` maps (module, name) to externs."""
    store = store or Store()
    imports = imports or {}
    return store, store.instantiate(load(wat(text)), lambda m, n: imports.get((m, n)))


def call(store, inst, name: str, *args: Value, trace: bool = False):
    """Result of invoking an export."""
    return invoke(store, inst.exports[name], list(args), trace=trace)


def bits(store, inst, name: str, *args: Value) -> list:
    """The result bits of invoking an export."""
    return [v.bits for v in call(store, inst, name, *args).values]
