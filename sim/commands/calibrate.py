"""``liptako calibrate``: fit the priors' parameters to the calibration targets and write the report.

    liptako calibrate [--scenario S.yaml] [--priors P.yaml] [--targets T.yaml] [--screen N]
                      [--seeds-per-point K] [--particles P] [--generations G] [--candidates C]
                      [--candidate-seeds S] [--ensemble E]
                      [--workers W] [--master-seed M] [--horizon YYYY-MM-DD] [--work DIR] [--out DIR]
    liptako calibrate --report-only [--work DIR] [--out DIR]

Stages (see :mod:`sim.calibrate`): a Latin hypercube screen of N points x K seeds,
ABC-SMC with pyabc (P particles, G generations), the choice of the fitted set (the
weighted-median point and the C closest particles, each run on the same S seeds; the
most fitting targets met wins, then the smallest mean distance), an E-seed ensemble at
the fitted values; then ``OUT/calibrated.yaml``, ``OUT/report.md`` and ``OUT/figures/``
(OUT defaults to ``calibration/``). Intermediate files go to the working folder
(default ``results/calibration/<scenario>``); the screen and the ensemble resume
from it, a finished ABC-SMC with the same settings is reused, and one with the same
particles continues from its stored generations to G (an interrupted one, or a finished
one asked for more), ending where an uninterrupted run would. ``--report-only``
rebuilds the report from it without running anything.
Exit status: 0 done, 2 bad input (nothing run), 130 interrupted.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from sim.scenario_io import ScenarioError


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ScenarioError(f"--horizon {text!r}: expected a date YYYY-MM-DD") from None


def register(subparsers) -> None:
    from sim.calibrate import DEFAULT_PRIORS, DEFAULT_SCENARIO, DEFAULT_TARGETS, ROOT

    p = subparsers.add_parser("calibrate", help="fit parameters to the calibration targets (screen, then ABC-SMC)")
    p.add_argument("--scenario", type=Path, default=DEFAULT_SCENARIO, help="base scenario (default baseline)")
    p.add_argument("--priors", type=Path, default=DEFAULT_PRIORS, help="default calibration/priors.yaml")
    p.add_argument("--targets", type=Path, default=DEFAULT_TARGETS, help="default calibration/targets.yaml")
    p.add_argument("--screen", type=int, default=200, help="Latin hypercube points (default 200)")
    p.add_argument("--seeds-per-point", type=int, default=2, help="seeds per screen point (default 2)")
    p.add_argument("--particles", type=int, default=100, help="ABC-SMC population size (default 100)")
    p.add_argument("--generations", type=int, default=6,
                   help="ABC-SMC generations (default 6); the working folder's ABC-SMC with the same particles "
                        "continues to this many")
    p.add_argument("--candidates", type=int, default=8,
                   help="closest particles of the last ABC-SMC generation tried besides the weighted median (default 8)")
    p.add_argument("--candidate-seeds", type=int, default=5,
                   help="seeds per candidate when choosing the fitted set; 0 keeps the weighted median (default 5)")
    p.add_argument("--ensemble", type=int, default=50, help="seeds at the fitted values for the report (default 50)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="local processes (default: all cores)")
    p.add_argument("--master-seed", type=int, default=None, help="default: the scenario's seed")
    p.add_argument("--horizon", default=None, metavar="END_DATE",
                   help="end runs at this date (short runs for testing; later targets are n/a)")
    p.add_argument("--work", type=Path, default=None,
                   help="working folder (default results/calibration/<scenario>)")
    p.add_argument("--out", type=Path, default=ROOT / "calibration",
                   help="where calibrated.yaml, report.md and figures/ go (default calibration/)")
    p.add_argument("--report-only", action="store_true", help="rebuild the report from the working folder")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args) -> int:
    from sim.calibrate import chosen, default_work, prepare, reopen, run_calibration
    from sim.calibration_report import write_report
    from sim.scenario_io import load_scenario

    if args.report_only:
        work = args.work or default_work(load_scenario(args.scenario).name)
        cal = reopen(work)
        report = write_report(cal, args.out, chosen(cal), calibrated=args.out / "calibrated.yaml")
        print(f"wrote {report}")
        return 0
    horizon = _date(args.horizon) if args.horizon else None
    cal = prepare(args.scenario, args.priors, args.targets, master_seed=args.master_seed, horizon=horizon,
                  work=args.work)
    done = run_calibration(cal, args.out, screen_points=args.screen, seeds_per_point=args.seeds_per_point,
                           particles=args.particles, generations=args.generations, ensemble_size=args.ensemble,
                           workers=args.workers, progress=not args.quiet, candidates_k=args.candidates,
                           candidate_seeds=args.candidate_seeds)
    print(f"wrote {done.calibrated} and {done.report}")
    print(f"runs {done.runs}; distances {done.distances}")
    return 0
