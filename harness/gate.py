"""The regression gate: unexpected results fail the build; a retry tells flakes apart.

Like WPT's retry-only-unexpected: rows whose status the expectations do
not allow are run again once (their whole script, on the same executor and
config); a row that is expected on the retry is labelled ``flaky`` and
reported, everything still unexpected fails the gate.  An expected failure
that now passes is unexpected too (wasmtime's should-fail rule), so the
expectations table can only shrink.
"""
from __future__ import annotations

import json

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .expectations import Expectations


@dataclass
class GateResult:
    unexpected: pd.DataFrame  # still unexpected after the retry
    flaky: pd.DataFrame  # unexpected first, expected on the retry
    checked: int

    @property
    def ok(self) -> bool:
        return self.unexpected.empty


KEY = ["file", "line", "kind", "executor", "config", "repeat"]


def gate(
    frame: pd.DataFrame,
    expectations: dict[str, Expectations],
    retry=None,
) -> GateResult:
    """Apply each executor's expectations; ``retry(rows) -> frame`` re-runs the unexpected rows' scripts."""
    marked = []
    for executor, part in frame.groupby("executor"):
        marked.append(expectations.get(executor, Expectations()).apply(part))
    df = pd.concat(marked, ignore_index=True) if marked else frame
    bad = df[df["unexpected"]]
    flaky = bad.iloc[0:0]
    if retry is not None and not bad.empty:
        again = retry(bad)
        if again is not None and not again.empty:
            rechecked = []
            for executor, part in again.groupby("executor"):
                rechecked.append(expectations.get(executor, Expectations()).apply(part))
            again = pd.concat(rechecked, ignore_index=True)
            again = again.drop_duplicates(subset=KEY[:-1])  # the retry runs repeat 0; it answers for every repeat
            merged = bad.merge(again[KEY[:-1] + ["status", "unexpected"]], on=KEY[:-1], how="left", suffixes=("", "_retry"))
            now_ok = merged["unexpected_retry"].eq(False).to_numpy()
            flaky = bad[now_ok].copy()
            flaky["retry_status"] = merged.loc[now_ok, "status_retry"].to_numpy()
            flaky["status"] = "flaky"
            bad = bad[~now_ok]
    return GateResult(unexpected=bad, flaky=flaky, checked=len(df))


def retry_scripts(rows: pd.DataFrame, testsuite: str | None, out_dir: Path, jobs: int) -> pd.DataFrame:
    """Re-run the scripts holding these rows (same executor and config) and return the new rows."""
    from .cli import discover
    from .run import RunSpec, run_scripts
    from .wast import load_script

    frames = []
    rows = rows[rows["suite"] != "fuzz"]  # fuzz rows name no script to re-run: they stay unexpected
    if "batch" not in rows:
        rows = rows.assign(batch=1)
    for (executor, config, suite, batch), part in rows.groupby(["executor", "config", "suite", "batch"]):
        names = sorted(set(part["file"]))
        scripts = [load_script(p, n) for p, n in discover(tuple(names), testsuite if suite == "testsuite" else None)]
        try:  # the run's budgets, as its executor recorded them
            recorded = json.loads(part["versions"].iloc[0]) if "versions" in part else {}
        except (TypeError, ValueError):
            recorded = {}
        options = {k: int(recorded[k]) for k in ("max_steps", "max_prompt") if recorded.get(k)}
        spec = RunSpec(executor=executor, config=None if config == "default" else config, suite=suite,
                       oracle="reference" if executor == "transformer" else None, batch=int(batch), options=options,
                       log_path=str(out_dir / "workers.log"))
        frames.append(run_scripts(scripts, spec, out_dir / f"retry-{executor}-{config}-b{batch}", jobs).frame)
    return pd.concat(frames, ignore_index=True) if frames else rows.iloc[0:0]
