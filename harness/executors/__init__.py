"""Executors by name; each arrives configured, and imports what it needs only when made."""
from __future__ import annotations

from .base import Executor, Invocation, Session

EXECUTORS = ("wasmtime", "reference", "transformer")
DEVICES = ("cpu", "cuda")
DTYPES = ("f32", "f64")
BACKENDS = ("dense", "hull")


class ConfigError(ValueError):
    """An unknown executor or config (the message is one line for the user)."""


def parse_config(config: str) -> dict:
    """Split DEVICE-DTYPE-BACKEND[-VARIANT] into fields; raise ConfigError if malformed."""
    parts = config.split("-")
    if len(parts) < 3 or parts[0] not in DEVICES or parts[1] not in DTYPES or parts[2] not in BACKENDS:
        raise ConfigError(
            f"unknown config {config!r}: expected DEVICE-DTYPE-BACKEND with DEVICE in {DEVICES}, "
            f"DTYPE in {DTYPES}, BACKEND in {BACKENDS} (e.g. cpu-f64-dense)"
        )
    return {"device": parts[0], "dtype": parts[1], "backend": parts[2], "variant": "-".join(parts[3:])}


def make_executor(name: str, config: str | None = None, **options) -> Executor:
    """The executor called ``name`` with ``config``; raise ConfigError if either is unknown."""
    if name == "wasmtime":
        from .wasmtime_exec import WasmtimeExecutor

        return WasmtimeExecutor()
    if name == "reference":
        from .reference import ReferenceExecutor

        return ReferenceExecutor(**options)
    if name == "transformer":
        config = config or "cpu-f64-dense"
        parse_config(config)
        from .transformer import TransformerExecutor

        return TransformerExecutor(config, **options)
    raise ConfigError(f"unknown executor {name!r}: choose one of {', '.join(EXECUTORS)}")


__all__ = ["Executor", "Invocation", "Session", "ConfigError", "make_executor", "parse_config", "EXECUTORS"]
