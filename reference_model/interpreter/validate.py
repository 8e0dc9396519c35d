"""Validation, delegated to wasmtime's validator.

Type checking is not part of what this interpreter defines (its trace is
defined for valid modules only), so we lean on a maintained validator
instead of writing a second one.  The engine enables every proposal
wasmtime knows, so that a module is rejected only when it is invalid:
a *valid* module that uses a proposal we do not run is reported as
``Unsupported`` by the decoder, not as rejected.
"""
from __future__ import annotations

import functools

import wasmtime

from reference_model.errors import ModuleRejected


@functools.cache
def _engine() -> wasmtime.Engine:
    cfg = wasmtime.Config()
    for feature in ("wasm_bulk_memory", "wasm_reference_types", "wasm_multi_value", "wasm_simd",
                    "wasm_relaxed_simd", "wasm_threads", "wasm_tail_call", "wasm_multi_memory",
                    "wasm_memory64", "wasm_function_references", "wasm_gc", "wasm_exceptions",
                    "wasm_wide_arithmetic", "wasm_custom_page_sizes"):
        try:
            setattr(cfg, feature, True)
        except Exception:  # a feature this wasmtime build lacks: leave it off
            pass
    return wasmtime.Engine(cfg)


def validate_binary(wasm: bytes) -> None:
    """Return None if ``wasm`` is a valid module; raise ModuleRejected with wasmtime's reason if not."""
    try:
        wasmtime.Module.validate(_engine(), wasm)
    except Exception as e:  # wasmtime raises WasmtimeError; keep only the first line of its text
        first = str(e).strip().splitlines()[0] if str(e).strip() else "invalid module"
        raise ModuleRejected(first) from None
