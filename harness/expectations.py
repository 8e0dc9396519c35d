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
from dataclasses import dataclass, field, replace
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


def update_expectations(frame: pd.DataFrame, directory: Path, executor: str, reason: str = "unclassified") -> dict:
    """Bring ``directory/<executor>.toml`` in line with a run; return counts (kept, added, dropped).

    The file is edited, not regenerated (tomlkit keeps its comments):

    * an entry that names no row of the run (another config, a file not
      run) is kept as written;
    * an entry that allows every row it names, at least one of them a
      non-pass, is kept;
    * an entry that names a row it does not allow, or only passing rows
      (stale), is dropped, or narrowed to the configs it lists that the run
      did not cover (an explicit list; a glob or none speaks for all);
    * every non-pass row no kept entry allows gets a new entry: rows are
      grouped by file and by the set of statuses a command showed (several
      over repeats or retries make an intermittent entry), unsupported rows
      by message whatever the file; an entry names the configs it was seen
      on (a run of one config must not speak for the others).  A new
      entry takes the reason of the dropped entry that named its rows if
      that entry allowed its statuses, else ``reason``.
    """
    import tomlkit

    path = Path(directory) / f"{executor}.toml"
    old = load_expectations(directory, executor)
    doc = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    if not path.exists():
        doc.add(tomlkit.comment(f"Known non-passes of the {executor} executor (`wasmconf expectations update`)."))
        doc.add(tomlkit.comment("Each entry: file, lines, allowed statuses (several = intermittent), optional configs, reason."))
    rows = frame[frame["executor"] == executor]
    messages = rows["message"].fillna("").astype(str) if "message" in rows else pd.Series("", index=rows.index)
    index = {id(e): i for i, e in enumerate(old.entries)}
    named: dict[int, list] = {}  # entry index -> [(row key, status)] of the rows it names
    keys = list(zip(rows["file"].astype(str), rows["line"].astype(int), rows["kind"].astype(str),
                    rows["config"].astype(str), messages, rows["status"].astype(str)))
    for key in keys:
        e = old.lookup(*key[:5])
        if e is not None:
            named.setdefault(index[id(e)], []).append(key)
    dropped = sorted(i for i, got in named.items()
                     if any(k[5] not in old.entries[i].status for k in got) or all(k[5] == "pass" for k in got))
    # an entry that names configs outside this run keeps speaking for those: it is narrowed to them, not
    # dropped (only an explicit list can be narrowed; a glob or no configs at all means every config)
    run_configs = set(rows["config"].astype(str))
    narrowed = {i: [c for c in old.entries[i].configs if c not in run_configs] for i in dropped
                if old.entries[i].configs and not any(ch in c for c in old.entries[i].configs for ch in "*?[")}
    narrowed = {i: rest for i, rest in narrowed.items() if rest}
    dropped = [i for i in dropped if i not in narrowed]
    kept = [e for i, e in enumerate(old.entries) if i not in dropped and i not in narrowed]
    still = Expectations(kept + [replace(old.entries[i], configs=tuple(rest)) for i, rest in narrowed.items()])
    open_rows = [k for k in keys if k[5] != "pass" and not ((e := still.lookup(*k[:5])) and k[5] in e.status)]

    def reason_of(statuses, file, line, kind, config, message=""):  # a dropped entry's reason, where it still fits
        probe = old.lookup(file, line, kind, config, message)
        return probe.reason if probe is not None and set(statuses) <= set(probe.status) else reason

    new = []
    by_message: dict[str, set] = {}
    for k in open_rows:
        if k[5] == "unsupported":
            by_message.setdefault(k[4], set()).add(k[3])
    for message, configs in sorted(by_message.items()):
        entry = {"file": "*", "message": message, "status": ["unsupported"], "reason": reason_of(["unsupported"], "*", 0, "", "", message)}
        entry["configs"] = sorted(configs)
        new.append(entry)
    statuses_of: dict[tuple, set] = {}
    for file, line, kind, config, _message, status in keys:
        statuses_of.setdefault((file, line, kind, config), set()).add(status)
    wanted = {k[:4] for k in open_rows if k[5] != "unsupported"}
    groups: dict[tuple, list[int]] = {}
    for (file, line, kind, config), statuses in statuses_of.items():
        if (file, line, kind, config) in wanted:
            groups.setdefault((file, tuple(sorted(statuses)), config), []).append(line)
    merged: dict[tuple, set] = {}
    for (file, statuses, config), lines in groups.items():
        merged.setdefault((file, statuses, tuple(sorted(set(lines)))), set()).add(config)
    for (file, statuses, lines), configs in sorted(merged.items()):
        entry = {"file": file, "lines": list(lines), "status": list(statuses),
                 "reason": reason_of(statuses, file, lines[0], "", sorted(configs)[0])}
        entry["configs"] = sorted(configs)
        new.append(entry)
    table = doc.get("expect")
    if table is None:
        table = tomlkit.aot()
        doc.append("expect", table)
    for i, rest in narrowed.items():
        table[i]["configs"] = rest
    for i in reversed(dropped):
        del table[i]
    for entry in new:
        item = tomlkit.item(entry)
        item.trivia.indent = "\n"  # a blank line before each new entry
        table.append(item)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(doc))
    return {"path": path, "kept": len(kept), "added": len(new), "dropped": len(dropped), "narrowed": len(narrowed)}
