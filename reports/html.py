"""The static HTML report: index.html, its PNG figures and CSV tables in one folder, viewable offline."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from . import plots
from . import summarise as sm

TEMPLATES = Path(__file__).resolve().parent / "templates"

# Long tables show this many rows on the page; the CSV beside it has them all.
MAX_ROWS = 300


@dataclass
class ReportInputs:
    """What the page is built from besides the rows: where they came from and the run history."""

    sources: list[str] = field(default_factory=list)
    history: pd.DataFrame | None = None
    tie_threshold: float = sm.TIE_THRESHOLD


def _short(value, limit: int = 60) -> str:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _records(df: pd.DataFrame, limit: int | None = None) -> list[dict]:
    part = df if limit is None else df.head(limit)
    return part.astype(object).where(part.notna(), None).to_dict("records")


def _file_rows(passed: pd.DataFrame, total: pd.DataFrame, interop: pd.DataFrame) -> list[dict]:
    """One dict per file: cells (text, colour, title) per config and the interop cell."""
    inter = interop.set_index("file")
    rows = []
    for f in total.index:
        cells = []
        for c in total.columns:
            p, t = int(passed.at[f, c]), int(total.at[f, c])
            cells.append({"text": f"{p}/{t}" if t else "\u2013", "color": plots.rate_color(p, t),
                          "title": f"{c}: {p} of {t} passed" + (f" ({100 * p / t:.1f}%)" if t else ""),
                          "dark": t > 0 and p / t < 0.8})
        i = inter.loc[f] if f in inter.index else None
        ip, it = (int(i["passing"]), int(i["commands"])) if i is not None else (0, 0)
        rows.append({"file": f, "cells": cells, "interop": f"{ip}/{it}", "interop_color": plots.rate_color(ip, it),
                     "worst": min((cp / ct for cp, ct in zip(passed.loc[f], total.loc[f]) if ct), default=1.0),
                     "perfect": all(cp == ct for cp, ct in zip(passed.loc[f], total.loc[f]))})
    return rows


def write_report(df: pd.DataFrame, out: Path, inputs: ReportInputs | None = None) -> Path:
    """Write out/index.html with its figures (PNG) and full tables (CSV); give back the page's path."""
    inputs = inputs or ReportInputs()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = sm.with_labels(df)
    order = sm.labels(df)
    totals = sm.totals(df)
    passed, total = sm.file_matrix(df)
    interop = sm.interop(df)
    divergences = sm.divergences(df)
    first = sm.first_divergences(df)
    ties = sm.tie_breaks(df, inputs.tie_threshold)
    margins = sm.margins(df)
    horizon = sm.horizon(df)

    figures: dict[str, str | None] = dict.fromkeys(("heatmap", "margins", "horizon", "history"))
    figures["heatmap"] = plots.heatmap(passed, total, out / "heatmap.png").name
    if not margins.empty:
        figures["margins"] = plots.margin_histogram(margins, out / "margins.png", threshold=inputs.tie_threshold).name
    if not horizon.empty:
        figures["horizon"] = plots.horizon_ecdf(horizon, order, out / "horizon.png").name
    history = inputs.history
    if history is not None and not history.empty:
        figures["history"] = plots.history_plot(history, order, out / "history.png").name

    tables = {"totals": totals, "files": interop.per_file, "divergences": divergences, "tie_breaks": ties}
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)

    statuses = sm.statuses_in(df)
    file_rows = _file_rows(passed, total, interop.per_file)
    imperfect = sorted((r for r in file_rows if not r["perfect"]), key=lambda r: (r["worst"], r["file"]))
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["short"] = _short
    page = env.get_template("report.html.j2").render(
        generated=dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        run_ids=sorted(df["run_id"].astype(str).unique()),
        sources=inputs.sources,
        rows=len(df),
        files=len(total.index),
        configs=order,
        statuses=statuses,
        status_colors=plots.STATUS_COLORS,
        totals=_records(totals),
        interop=interop,
        file_rows=file_rows,
        imperfect=imperfect,
        divergences=_records(divergences, MAX_ROWS),
        divergence_count=len(divergences),
        divergence_counts=divergences["status"].value_counts().to_dict(),
        first=_records(first),
        ties=_records(ties, MAX_ROWS),
        tie_count=len(ties),
        tie_threshold=inputs.tie_threshold,
        margin_count=len(margins),
        history_runs=0 if history is None else int(history["run_id"].nunique()),
        figures=figures,
        max_rows=MAX_ROWS,
        rate_legend=list(zip(plots.RATE_LABELS[::-1], plots.RATE_COLORS[::-1])),
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
