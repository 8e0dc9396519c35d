"""Run history: one parquet row per (run, executor, config) with its counts, for pass-rate-over-time plots."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .schema import STATUSES
from .summarise import statuses_in, totals

# The fixed columns; one integer column per status follows them.
BASE_COLUMNS = ["run_id", "timestamp", "executor", "config", "label", "total", "passed", "unexpected"]


class HistoryError(ValueError):
    """A history file that cannot be read or written (one line for the user)."""


def _timestamp(run_id: str) -> pd.Timestamp:
    """When a run started: run ids are the harness's %Y%m%d-%H%M%S stamps; anything else is 'now'."""
    try:
        return pd.Timestamp(dt.datetime.strptime(str(run_id), "%Y%m%d-%H%M%S"))
    except ValueError:
        return pd.Timestamp(dt.datetime.now().replace(microsecond=0))


def run_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run_id, executor, config) of df: total, passed, unexpected and a count per status."""
    parts = []
    for run_id, part in df.groupby(df["run_id"].astype(str), sort=True):
        t = totals(part)
        t.insert(0, "run_id", run_id)
        t.insert(1, "timestamp", _timestamp(run_id))
        parts.append(t)
    if not parts:
        return _empty()
    out = pd.concat(parts, ignore_index=True)
    status_cols = [s for s in STATUSES] + [s for s in statuses_in(df) if s not in STATUSES]
    for s in status_cols:
        out[s] = out[s].fillna(0).astype(int) if s in out else 0
    return _typed(out[BASE_COLUMNS + status_cols])


def _empty() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=BASE_COLUMNS + list(STATUSES)))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for c in ("run_id", "executor", "config", "label"):
        df[c] = df[c].astype("string")
    df["timestamp"] = pd.to_datetime(df["timestamp"])
    for c in df.columns:
        if c not in BASE_COLUMNS[:5]:
            df[c] = df[c].fillna(0).astype("int64")
    return df


def load_history(path: Path) -> pd.DataFrame:
    """The history at path, oldest run first."""
    try:
        df = pd.read_parquet(path)
    except FileNotFoundError:
        raise HistoryError(f"no history at {path}") from None
    except Exception as e:  # a corrupt or foreign file
        raise HistoryError(f"cannot read history {path}: {e}") from None
    missing = [c for c in BASE_COLUMNS if c not in df]
    if missing:
        raise HistoryError(f"{path} is not a wasmconf history (missing {', '.join(missing)})")
    return _typed(df).sort_values(["timestamp", "run_id", "label"], kind="stable").reset_index(drop=True)


def append_history(path: Path, summary: pd.DataFrame) -> pd.DataFrame:
    """Add summary's rows to the history at path (creating it); a run already there is replaced, not doubled."""
    path = Path(path)
    old = load_history(path) if path.exists() else _empty()
    keys = ["run_id", "executor", "config"]
    new_keys = set(map(tuple, summary[keys].astype(str).to_numpy()))
    keep = [tuple(k) not in new_keys for k in old[keys].astype(str).to_numpy()]
    merged = pd.concat([old[keep], summary], ignore_index=True)
    merged = _typed(merged).sort_values(["timestamp", "run_id", "label"], kind="stable").reset_index(drop=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    merged.to_parquet(tmp, index=False)
    tmp.replace(path)  # a crash mid-write leaves the old history whole
    return merged
