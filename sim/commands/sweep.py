"""``liptako sweep``, ``liptako sensitivity`` and ``liptako ensemble``.

    liptako sweep SPEC.yaml [--out DIR] [--workers N | --scheduler ADDRESS] [--quiet]
    liptako sensitivity SPEC.yaml [--metric NAME ...] [same options]
    liptako ensemble SPEC.yaml [--series ACTOR.column ...] [--points I ...] [same options]

All three run (or resume) the sweep first; rerunning a command skips the runs
already finished. ``sensitivity`` then computes Sobol or Morris indices (the
spec's ``sampling.method``) and ``ensemble`` the median and 5-95% band of the
recorded time series. Exit status: 0 done, 1 some runs failed (rerun to retry
them), 2 bad input (nothing written), 130 interrupted (finished runs are kept).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from sim.scenario_io import ScenarioError


def register(subparsers) -> None:
    s = subparsers.add_parser("sweep", help="run a parameter sweep (resumable; local processes or Dask)")
    _common(s)
    s.set_defaults(func=_cmd_sweep)
    a = subparsers.add_parser("sensitivity", help="run a sobol/morris sweep and compute sensitivity indices")
    _common(a)
    a.add_argument("--metric", action="append", default=None, metavar="NAME",
                   help="analyse this output (repeatable; default: every output)")
    a.set_defaults(func=_cmd_sensitivity)
    e = subparsers.add_parser("ensemble", help="run a sweep and summarise its time series across seeds")
    _common(e)
    e.add_argument("--series", action="append", default=None, metavar="ACTOR.column",
                   help="summarise this recorded series (repeatable; default: every series in the spec)")
    e.add_argument("--points", type=int, nargs="+", default=None, metavar="I",
                   help=f"points to plot (default: all, at most {_max_points()})")
    e.set_defaults(func=_cmd_ensemble)


def _max_points() -> int:
    from sim.ensemble import MAX_PLOTTED_POINTS

    return MAX_PLOTTED_POINTS


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", type=Path, help="sweep spec YAML (see scenarios/sweeps/)")
    p.add_argument("--out", type=Path, default=None, help="sweep folder (default: results/sweeps/<name>)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on this dask.distributed scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _load(args):
    from sim.sweep import load_sweep

    if args.workers is not None and args.workers < 1:
        raise ScenarioError(f"--workers must be at least 1, got {args.workers}")
    sweep = load_sweep(args.spec)
    for note in sweep.notes:
        print(f"note: {note}", file=sys.stderr)
    return sweep


def _execute(sweep, args) -> tuple[int, object]:
    """Run the sweep's missing runs and print what happened; returns (exit status, report)."""
    from sim.sweep import run_sweep

    report = run_sweep(sweep, args.out, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    if report.finished:
        rate = report.finished / report.seconds * 60
        print(f"{report.finished} runs in {report.seconds:.1f} s ({rate:.1f} runs/min) on {report.executor}")
    if report.skipped:
        print(f"{report.skipped} runs were already finished")
    print(f"{report.skipped + report.finished} of {report.total} runs in {report.folder / 'results.csv'}")
    if sweep.dropped_events:
        print(f"{len(sweep.dropped_events)} dated events outside the shortened run were dropped "
              f"(listed in {report.folder / 'manifest.json'})")
    if report.interrupted:
        print("interrupted; rerun the same command to resume")
        return 130, report
    if report.worker_died:
        print("a worker process died (killed, or out of memory?); rerun the same command to resume")
        return 1, report
    if report.failed:
        print(f"{report.failed} runs failed (see {report.folder / 'errors.log'}); rerun the same command to retry them")
        return 1, report
    return 0, report


def _cmd_sweep(args) -> int:
    status, _ = _execute(_load(args), args)
    return status


def _cmd_sensitivity(args) -> int:
    from sim import sensitivity
    from sim.sweep import read_records

    sweep = _load(args)
    method = sweep.spec.sampling.method
    if method not in ("sobol", "morris"):
        raise ScenarioError(f"{args.spec}: sampling.method: sensitivity needs sobol or morris, got {method!r}")
    metrics = _pick(args.metric, list(sweep.spec.outputs), args.spec, "outputs", "--metric")
    status, report = _execute(sweep, args)
    if status:
        return status
    records = read_records(report.folder).values()
    n = len(sweep.points)
    rows = {}
    for m in metrics:
        y = np.zeros(n)
        counts = np.zeros(n)
        for rec in records:
            y[rec["point"]] += rec["metrics"][m]
            counts[rec["point"]] += 1
        rows[m] = sensitivity.analyse(method, sweep.problem(), sweep.sample, y / counts,
                                      second_order=sweep.spec.sampling.second_order,
                                      levels=sweep.spec.sampling.morris_levels, seed=sweep.spec.seed % 2**32)
    table = sensitivity.write_table(rows, report.folder / f"sensitivity_{method}.csv")
    chart = sensitivity.bar_chart(rows, method, report.folder / f"sensitivity_{method}.png",
                                  title=f"{sweep.spec.name}: {method} indices ({n} points x {sweep.spec.replicates})")
    key = "ST" if method == "sobol" else "mu_star"
    for m, rs in rows.items():
        ranked = sorted((r for r in rs if not np.isnan(r[key])), key=lambda r: -r[key])
        top = ", ".join(f"{r['parameter']} {r[key]:.3g}" for r in ranked[:3]) or "output does not vary"
        print(f"{m}: {key} {top}")
    print(f"wrote {table} and {chart}")
    return 0


def _cmd_ensemble(args) -> int:
    from sim import ensemble
    from sim.sweep import read_records

    sweep = _load(args)
    if not sweep.spec.timeseries:
        raise ScenarioError(f"{args.spec}: timeseries: list the series to record, e.g. [JNIM.manpower, ISGS.area_km2]")
    names = _pick(args.series, sweep.spec.timeseries, args.spec, "timeseries", "--series")
    points = args.points if args.points is not None else list(range(len(sweep.points)))
    bad = [p for p in points if not 0 <= p < len(sweep.points)]
    if bad:
        raise ScenarioError(f"--points: no point(s) {bad}; the sweep has points 0 to {len(sweep.points) - 1}")
    if len(points) > ensemble.MAX_PLOTTED_POINTS:
        raise ScenarioError(f"{len(sweep.points)} points are too many for one plot; choose at most "
                            f"{ensemble.MAX_PLOTTED_POINTS} with --points")
    status, report = _execute(sweep, args)
    if status:
        return status
    records = list(read_records(report.folder).values())
    rows = ensemble.summarise(records, names)
    table = ensemble.write_csv(rows, report.folder / "ensemble.csv")
    labels = {i: ", ".join(f"{k.rsplit('.', 1)[-1]}={v:g}" if isinstance(v, float) else f"{k.rsplit('.', 1)[-1]}={v}"
                           for k, v in sweep.points[i].items()) or sweep.spec.name for i in points}
    chart = ensemble.plot([r for r in rows if r["point"] in points], report.folder / "ensemble.png", labels,
                          title=f"{sweep.spec.name}: median and 5-95% band over {sweep.spec.replicates} seeds")
    print(f"wrote {table} and {chart}")
    return 0


def _pick(chosen, available: list[str], spec: Path, key: str, flag: str) -> list[str]:
    """The names chosen on the command line (default: all), each checked against the spec."""
    if chosen is None:
        return available
    import difflib

    for name in chosen:
        if name not in available:
            match = difflib.get_close_matches(name, available, n=1)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise ScenarioError(f"{flag} {name!r}: not in the {key} of {spec}{hint}; it has {available}")
    return list(dict.fromkeys(chosen))
