"""``liptako score``: check runs, ensembles or ACLED event files against the calibration targets.

    liptako score RESULTS_DIR [RESULTS_DIR ...]        one run, or an ensemble of saved runs
    liptako score --scenario S.yaml --seeds N [--workers K]   run an N-seed ensemble and score it
    liptako score --acled EVENTS.csv                   real (or synthetic) ACLED events, events-only targets

Prints, per target, the value (the median for an ensemble), the accepted interval,
pass or fail (the pass rate for an ensemble) and the source; ``--use fit`` or
``--use holdout`` keeps one group; ``--csv FILE`` writes the table too.
Exit status 0 whatever the scores; 2 for bad input.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from sim.scenario_io import ScenarioError
from sim.targets import EventFile, format_table, load_targets, score, table

DEFAULT_TARGETS = Path(__file__).resolve().parents[2] / "calibration" / "targets.yaml"


def register(subparsers) -> None:
    p = subparsers.add_parser("score", help="score runs, an ensemble or an ACLED file against the calibration targets")
    p.add_argument("results", type=Path, nargs="*", help="results folders (several make an ensemble)")
    p.add_argument("--acled", type=Path, default=None, help="an event file in ACLED's columns")
    p.add_argument("--scenario", type=Path, default=None, help="run an ensemble of this scenario")
    p.add_argument("--seeds", type=int, default=10, help="ensemble size with --scenario (default 10)")
    p.add_argument("--seed", type=int, default=None, help="master seed of the ensemble (default: the scenario's)")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes for --scenario (default: all cores)")
    p.add_argument("--targets", type=Path, default=DEFAULT_TARGETS, help="targets file (default calibration/targets.yaml)")
    p.add_argument("--use", choices=("fit", "holdout", "all"), default="all")
    p.add_argument("--csv", type=Path, default=None, help="also write the table as CSV")
    p.set_defaults(func=_cmd_score)


def ensemble(scenario, n: int, seed: int | None = None, workers: int | None = None, progress: bool = False) -> list:
    """``n`` runs of ``scenario`` with run seeds 0..n-1 derived from one master seed, on ``workers`` processes
    (in this one for 1); ``progress`` shows a bar (on stderr) as runs finish."""
    from tqdm import tqdm

    from sim.calibrate import Mapper

    mapper = Mapper(min(workers or 1, n))  # workers end with this process, however it ends
    runs = []
    try:
        with tqdm(total=n, desc=f"{scenario.name}: runs", unit="run", disable=not progress, dynamic_ncols=True) as bar:
            for result in mapper.imap(_run_one, [(scenario, seed, k) for k in range(n)]):
                runs.append(result)
                bar.update(1)
    finally:
        mapper.close()
    return runs


def _run_one(args):
    from sim.runner import run

    scenario, seed, k = args
    result = run(scenario, seed=seed, run_index=k)
    result.geo = None  # each process re-reads the geography; do not ship it back
    return result


def _inputs(args) -> list:
    chosen = [bool(args.results), args.acled is not None, args.scenario is not None]
    if sum(chosen) != 1:
        raise ScenarioError("score: give results folders, or --acled FILE, or --scenario FILE (exactly one)")
    if args.acled is not None:
        from sim.metrics import read_events_csv

        if not args.acled.is_file():
            raise ScenarioError(f"{args.acled}: no such file")
        events = read_events_csv(args.acled)
        missing = {"event_date", "event_type", "sub_event_type", "actor1", "actor2", "fatalities"} - set(events[0] if events else {})
        if not events or missing:
            raise ScenarioError(f"{args.acled}: not an ACLED-format event file (missing columns {sorted(missing)})")
        return [EventFile(args.acled, events)]
    if args.scenario is not None:
        from sim.scenario_io import load_scenario

        if args.seeds < 1:
            raise ScenarioError(f"--seeds: expected a positive number, got {args.seeds}")
        return ensemble(load_scenario(args.scenario), args.seeds, args.seed, args.workers, progress=True)
    from sim.runview import is_results_folder, load_run

    runs = []
    for folder in args.results:
        if not is_results_folder(folder):
            raise ScenarioError(f"{folder}: not a results folder (no scenario.yaml, metadata.json, events.csv)")
        runs.append(load_run(folder))
    return runs


def _cmd_score(args) -> int:
    targets = load_targets(args.targets)
    runs = _inputs(args)
    chosen = targets.select(None if args.use == "all" else args.use)
    rows = table(score(chosen, runs))
    print(format_table(rows))
    rates = [r for r in rows if r["result"] not in ("n/a",)]
    print(f"\n{len(runs)} input(s); {len(rates)} of {len(rows)} targets applicable")
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0
