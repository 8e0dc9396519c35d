"""Known non-passes: one commented TOML table per executor, applied to result rows.

``conformance/expectations/<executor>.toml`` holds entries like::

    [[expect]]
    file = "simd_*.wast"          # glob over script names
    lines = [120, 121]            # optional: these commands only
    kinds = ["assert_return"]     # optional: command kinds
    message = "unsupported(simd*"  # optional: glob over the row's message (e.g. the unsupported feature)
    configs = ["cpu-f32-*"]       # optional: config globs (default: every config)
    status = ["unsupported"]      # the statuses allowed (several = intermittent)
    reason = "wasmtime-py cannot pass v128 values"

A row is *expected* when its status is ``pass`` and no entry names it, or
when the most specific entry naming it (listed lines over whole files) allows its
status.  An entry whose rows all pass is reported as stale, so the table
only shrinks.
"""
from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


class ExpectationsError(ValueError):
    """An expectations file that cannot be read (one line for the user)."""


@dataclass(frozen=True)
class Entry:
    file: str
    status: tuple[str, ...]
    reason: str
    lines: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()
    message: str = ""
    source: str = ""

    def names(self, file: str, line: int, kind: str, config: str, message: str = "") -> bool:
        if not fnmatch.fnmatchcase(file, self.file):
            return False
        if self.message and not fnmatch.fnmatchcase(message, self.message):
            return False
        if self.lines and line not in self.lines:
            return False
        if self.kinds and kind not in self.kinds:
            return False
        return not self.configs or any(fnmatch.fnmatchcase(config, c) for c in self.configs)

    @property
    def specificity(self) -> int:
        return (8 if self.lines else 0) + (4 if "*" not in self.file else 0) + (2 if self.message else 0) + (1 if self.kinds else 0)


@dataclass
class Expectations:
    entries: list[Entry] = field(default_factory=list)

    def lookup(self, file: str, line: int, kind: str, config: str, message: str = "") -> Entry | None:
        best = None
        for e in self.entries:
            if e.names(file, line, kind, config, message) and (best is None or e.specificity > best.specificity):
                best = e
        return best

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """Add ``expected_status`` (allowed statuses, '|'-joined), ``reason`` and ``unexpected`` columns."""
        allowed, reasons = [], []
        cache: dict[tuple, Entry | None] = {}
        messages = df["message"] if "message" in df else [""] * len(df)
        for file, line, kind, config, message in zip(df["file"], df["line"], df["kind"], df["config"], messages):
            key = (file, line, kind, config, message)
            if key not in cache:
                cache[key] = self.lookup(file, int(line), kind, config, str(message or ""))
            e = cache[key]
            allowed.append("|".join(e.status) if e else "pass")
            reasons.append(e.reason if e else "")
        df = df.copy()
        df["expected_status"] = allowed
        df["reason"] = reasons
        df["unexpected"] = [s not in a.split("|") for s, a in zip(df["status"], df["expected_status"])]
        return df


def load_expectations(directory: Path, executor: str) -> Expectations:
    """Entries of ``directory/<executor>.toml`` (none if the file does not exist)."""
    path = Path(directory) / f"{executor}.toml"
    if not path.exists():
        return Expectations()
    try:
        doc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ExpectationsError(f"{path}: {e}") from None
    entries = []
    for i, raw in enumerate(doc.get("expect", [])):
        try:
            status = raw["status"]
            entries.append(
                Entry(
                    file=raw["file"],
                    status=tuple([status] if isinstance(status, str) else status),
                    reason=raw.get("reason", ""),
                    lines=tuple(raw.get("lines", [raw["line"]] if "line" in raw else [])),
                    kinds=tuple(raw.get("kinds", ())),
                    configs=tuple(raw.get("configs", ())),
                    message=raw.get("message", ""),
                    source=f"{path.name}#{i}",
                )
            )
        except KeyError as e:
            raise ExpectationsError(f"{path}: entry {i} lacks {e.args[0]!r}") from None
    return Expectations(entries)


def update_expectations(frame: pd.DataFrame, directory: Path, executor: str) -> Path:
    """Rewrite ``directory/<executor>.toml`` from a run's non-pass rows; keep the reasons already written.

    Rows are grouped by file and by the set of statuses a command showed
    (several statuses over repeats or retries make an intermittent entry);
    an entry names configs only when the command did not fail the same way
    on every config of the run.  New entries get the reason "unclassified"
    for a person to replace.
    """
    import tomli_w

    old = load_expectations(directory, executor)
    rows = frame[frame["executor"] == executor]
    all_configs = sorted(rows["config"].unique())
    entries = []
    # unsupported features: one entry per feature, whatever the file
    unsupported = rows[rows["status"] == "unsupported"]
    for message, part in sorted(unsupported.groupby(unsupported["message"].astype(str))):
        probe = next((e for e in old.entries if e.message == message), None)
        entry = {"file": "*", "message": message, "status": ["unsupported"],
                 "reason": probe.reason if probe else "unclassified"}
        if sorted(part["config"].unique()) != all_configs:
            entry["configs"] = sorted(part["config"].unique())
        entries.append(entry)
    rows = rows[rows["status"] != "unsupported"]
    statuses_of: dict[tuple, set] = {}
    for key in zip(rows["file"], rows["line"], rows["kind"], rows["config"], rows["status"]):
        statuses_of.setdefault(key[:4], set()).add(str(key[4]))
    groups: dict[tuple, list[int]] = {}
    for (file, line, kind, config), statuses in statuses_of.items():
        if statuses != {"pass"}:
            groups.setdefault((str(file), tuple(sorted(statuses)), str(config)), []).append(int(line))
    merged: dict[tuple, set] = {}
    for (file, statuses, config), lines in groups.items():
        merged.setdefault((file, statuses, tuple(sorted(lines))), set()).add(config)
    for (file, statuses, lines), configs in sorted(merged.items()):
        probe = old.lookup(file, lines[0], "", sorted(configs)[0])
        entry = {"file": file, "lines": list(lines), "status": list(statuses),
                 "reason": probe.reason if probe else "unclassified"}
        if sorted(configs) != all_configs:
            entry["configs"] = sorted(configs)
        entries.append(entry)
    path = Path(directory) / f"{executor}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Known non-passes of the {executor} executor, written by `wasmconf expectations update`.\n"
              "# Each entry: file, lines, allowed statuses (several = intermittent), optional configs, reason.\n\n")
    path.write_text(header + tomli_w.dumps({"expect": entries}))
    return path
