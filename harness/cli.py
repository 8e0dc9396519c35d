"""The ``wasmconf`` command line."""
from __future__ import annotations

import datetime as dt
import glob
import json
import os
import sys
from pathlib import Path

import click

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS = PROJECT_ROOT / "conformance" / "wast"
REGRESSIONS = PROJECT_ROOT / "conformance" / "regressions"
EXPECTATIONS = PROJECT_ROOT / "conformance" / "expectations"


class UserError(click.ClickException):
    """A problem with the user's input: printed as one line, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"wasmconf: error: {self.format_message()}", err=True)


def _fail(message: str) -> UserError:
    return UserError(message)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wasmconf")
def main() -> None:
    """Conformance and determinism suite for transformers that execute WebAssembly."""


def discover(selection: tuple[str, ...], testsuite: str | None) -> list[tuple[Path, str]]:
    """(path, name) of the scripts to run; name is relative to the corpus root."""
    if testsuite:
        root = Path(testsuite)
        if not root.is_dir():
            raise _fail(f"testsuite directory not found: {testsuite}")
        roots = [root]
    else:
        roots = [CORPUS] + ([REGRESSIONS] if REGRESSIONS.is_dir() else [])
    found: list[tuple[Path, str]] = []
    if not selection:
        for root in roots:
            found += [(p, p.name if root != REGRESSIONS else f"regressions/{p.name}") for p in sorted(root.glob("*.wast"))]
        if not found:
            raise _fail(f"no .wast scripts in {roots[0]}")
        return found
    for item in selection:
        path = Path(item)
        if path.is_file():
            found.append((path, path.name))
            continue
        matches: list[Path] = []
        for root in roots:
            pattern = item if item.endswith(".wast") else f"{item}.wast"
            matches += sorted(Path(m) for m in glob.glob(str(root / pattern)))
            if not matches and any(c in item for c in "*?["):
                matches += sorted(Path(m) for m in glob.glob(str(root / item)) if m.endswith(".wast"))
        if not matches and any(c in item for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(item) if m.endswith(".wast"))
        if not matches:
            raise _fail(f"no script matches {item!r} (looked in {', '.join(str(r) for r in roots)})")
        for m in matches:
            root = next((r for r in roots if r in m.parents), None)
            found.append((m, str(m.relative_to(root)) if root else m.name))
    seen, unique = set(), []
    for p, n in found:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append((p, n))
    return unique


@main.command()
@click.argument("scripts", nargs=-1)
@click.option("--testsuite", envvar="WASM_TESTSUITE", help="Official testsuite checkout (default: the project's corpus in conformance/).")
@click.option("--executor", default="wasmtime", show_default=True, help="wasmtime, reference or transformer.")
@click.option("--config", "config", default=None, help="Executor config, e.g. cpu-f64-dense (transformer).")
@click.option("--jobs", "-j", type=int, default=None, help="Worker processes (default: CPU count).")
@click.option("--threads", type=int, default=1, show_default=True, help="torch threads per worker.")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None, help="Results folder (default: results/<timestamp>).")
@click.option("--expectations", "expectations_dir", type=click.Path(file_okay=False), default=str(EXPECTATIONS), show_default=True)
@click.option("--trace-dir", type=click.Path(file_okay=False), default=None, help="Write each traced command's trace here (parquet).")
@click.option("--no-oracle", is_flag=True, help="Do not compare traces with the reference interpreter.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no per-file table.")
def run(scripts, testsuite, executor, config, jobs, threads, out, expectations_dir, trace_dir, no_oracle, quiet):
    """Run .wast scripts through an executor; write results and print a summary.

    SCRIPTS are file paths, names (i32, i32.wast) or globs (memory_*) relative
    to the corpus root; none means every top-level script.
    """
    from .executors import EXECUTORS, ConfigError, parse_config
    from .expectations import ExpectationsError, load_expectations
    from .run import RunSpec, default_jobs, run_scripts
    from .summary import print_summary
    from .wast import ScriptError, load_script

    if executor not in EXECUTORS:
        raise _fail(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if executor == "transformer":
        config = config or "cpu-f64-dense"
        try:
            parse_config(config)
        except ConfigError as e:
            raise _fail(str(e)) from None
        if config.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise _fail(f"config {config} needs CUDA, and no CUDA device is available")
    elif config:
        raise _fail(f"executor {executor} takes no --config (got {config!r})")
    try:
        expectations = load_expectations(Path(expectations_dir), executor)
    except ExpectationsError as e:
        raise _fail(str(e)) from None
    selected = discover(scripts, testsuite)
    loaded = []
    try:
        for path, name in selected:
            loaded.append(load_script(path, name))
    except ScriptError as e:
        raise _fail(str(e)) from None
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = Path(out) if out else PROJECT_ROOT / "results" / f"{stamp}-{executor}{'-' + config if config else ''}"
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = RunSpec(
        executor=executor,
        config=config,
        oracle="reference" if executor == "transformer" and not no_oracle else None,
        trace_dir=trace_dir,
        suite="testsuite" if testsuite else "conformance",
        run_id=stamp,
        threads=threads,
        log_path=str(out_dir / "workers.log"),
    )
    result = _run_with_progress(loaded, spec, out_dir, jobs or default_jobs(), quiet)
    frame = expectations.apply(result.frame)
    frame.to_parquet(out_dir / "results.parquet", index=False)
    meta = {
        "run_id": stamp, "executor": executor, "config": config, "scripts": len(loaded),
        "commands": int(len(frame)), "passed": int((frame["status"] == "pass").sum()),
        "unexpected": int(frame["unexpected"].sum()), "seconds": round(result.seconds, 2),
        "interrupted": result.interrupted, "testsuite": testsuite, "argv": sys.argv[1:],
    }
    (out_dir / "run.json").write_text(json.dumps(meta, indent=2))
    print_summary(frame, per_file=not quiet, seconds=result.seconds)
    click.echo(f"results: {out_dir / 'results.parquet'}")
    if result.interrupted:
        click.echo("interrupted: the results hold the scripts that finished", err=True)
        sys.exit(130)


def _run_with_progress(loaded, spec, out_dir, jobs, quiet):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .run import run_scripts

    if quiet or not sys.stderr.isatty() and os.environ.get("WASMCONF_PROGRESS") != "1":
        return run_scripts(loaded, spec, out_dir, jobs)
    total = sum(len(s.commands) for s in loaded)
    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[passed]} passed"), TimeElapsedColumn(), transient=True,
    ) as bar:
        task = bar.add_task(f"{spec.executor}", total=total, passed=0)
        passed = 0

        def progress(script, n, n_pass):
            nonlocal passed
            passed += n_pass
            bar.update(task, advance=n, passed=passed, description=f"{spec.executor} {script.name}")

        return run_scripts(loaded, spec, out_dir, jobs, progress)
