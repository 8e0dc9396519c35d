"""The end-of-run summary printed to the terminal: per file, then totals."""
from __future__ import annotations

import pandas as pd
from rich.console import Console
from rich.table import Table

# how a passing row of a trace executor begins its message when nothing checked its trace (runner, fuzz)
TRACE_UNCHECKED = "trace not checked"


def trace_unchecked(message: str, why: str, limit: int) -> str:
    """A passing row's ``message`` with the note that nothing checked its trace (``why``: what the trace oracle
    did instead), cut at ``limit`` characters."""
    return "; ".join(filter(None, [message, f"{TRACE_UNCHECKED}: the trace oracle {why}"]))[:limit]


def file_table(frame: pd.DataFrame) -> pd.DataFrame:
    """passed / total / unexpected and the non-pass statuses, per file."""
    g = frame.groupby("file", sort=True)
    table = pd.DataFrame({"passed": g["status"].apply(lambda s: int((s == "pass").sum())), "total": g.size()})
    table["unexpected"] = g["unexpected"].sum().astype(int) if "unexpected" in frame else 0
    others = frame[frame["status"] != "pass"].groupby("file")["status"].agg(
        lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items())
    )
    table["other"] = others.reindex(table.index).fillna("")
    return table


def print_summary(frame: pd.DataFrame, *, per_file: bool = True, seconds: float | None = None) -> None:
    console = Console(highlight=False, soft_wrap=True)
    if frame.empty:
        console.print("no commands ran")
        return
    table = file_table(frame)
    if per_file:
        t = Table(show_edge=False, pad_edge=False, box=None)
        for col in ("file", "passed/total", "unexpected", "not passing"):
            t.add_column(col, justify="right" if col in ("passed/total", "unexpected") else "left")
        for name, r in table.iterrows():
            t.add_row(str(name), f"{r.passed}/{r.total}", str(r.unexpected or ""), r.other)
        console.print(t)
    passed, total = int(table["passed"].sum()), int(table["total"].sum())
    counts = frame["status"].value_counts()
    console.print(
        f"[bold]total[/bold] {passed}/{total} passed ({100.0 * passed / total:.2f}%) in {len(table)} files"
        + (f", {seconds:.1f} s" if seconds is not None else "")
    )
    console.print("statuses: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    unchecked = int(((frame["status"] == "pass") & frame["message"].fillna("").str.contains(TRACE_UNCHECKED)).sum()) \
        if "message" in frame else 0
    if unchecked:
        console.print(f"passes whose trace nothing checked (their messages say why): {unchecked}")
    if "unexpected" in frame:
        n = int(frame["unexpected"].sum())
        console.print(f"unexpected (not in expectations): {n}")
