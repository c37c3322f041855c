"""The ``liptako`` command.

    liptako run SCENARIO.yaml [--seed N] [--out DIR] [--no-plots] [--animate] [--quiet]
    liptako validate SCENARIO.yaml [...]
    liptako params [--mechanism NAME]
    liptako ...      further subcommands from sim/commands/

Exit status: 0 on success, 2 for bad input (a malformed scenario, an unknown
town), 1 for any other failure.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from sim.scenario_io import ScenarioError, load_scenario

EXIT_BAD_INPUT = 2


def _cmd_run(args) -> int:
    from sim.geodata import load_geodata
    from sim.runner import check_out_root, run, write_results

    scenario = load_scenario(args.scenario)
    geo = load_geodata()
    _check_places(scenario, geo, args.scenario)
    check_out_root(args.out)  # a bad --out fails now, not after the run
    result = run(scenario, geo, seed=args.seed, progress=not args.quiet)
    folder = write_results(result, Path(args.out), plots=not args.no_plots, animate=args.animate)
    timeline = ", ".join(f"{d} {s}" for d, s in result.relation_timeline())
    print(f"wrote {folder}")
    print(f"{result.counts['steps']} steps in {result.wall_time_s:.1f} s; "
          f"{result.counts['units_end']} units, {result.counts['communities']} communities, "
          f"{result.counts['grid_rows']}x{result.counts['grid_cols']} cells; {len(result.events)} events")
    print(f"JNIM-ISGS: {timeline}")
    return 0


def _check_places(scenario, geo, path) -> None:
    """Every town a unit or partner base names must exist in seeds/places.yaml."""
    from sim.scenario_io import check_places

    check_places(scenario, geo, path)


def _cmd_validate(args) -> int:
    from sim.geodata import load_geodata

    geo = load_geodata()
    for path in args.scenarios:
        scenario = load_scenario(path)
        _check_places(scenario, geo, path)
        print(f"{path}: ok ({scenario.name}, {scenario.start} to {scenario.end}, {len(scenario.events)} events)")
    return 0


def parameter_table(mechanism: str | None = None) -> list[tuple[str, object, str, str, str]]:
    """(key path, default, plausible range, unit, source) for every mechanism parameter."""
    from sim.params import Mechanisms

    rows = []
    for name, field in Mechanisms.model_fields.items():
        if mechanism and name != mechanism:
            continue
        cls = field.annotation
        for key, f in cls.model_fields.items():
            extra = f.json_schema_extra or {}
            rng = extra.get("plausible_range", "")
            rows.append((f"mechanisms.{name}.{key}", f.default, str(rng), extra.get("unit", ""),
                         extra.get("source", f.description or "")))
    return rows


def _cmd_params(args) -> int:
    for row in parameter_table(args.mechanism):
        print("\t".join(str(x) for x in row))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="liptako", description="Agent-based model of the Liptako-Gourma conflict.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one scenario and write a results folder")
    r.add_argument("scenario", type=Path)
    r.add_argument("--seed", type=int, default=None, help="master seed (default: the scenario's)")
    r.add_argument("--out", type=Path, default=Path("results"), help="folder that receives the results folder")
    r.add_argument("--no-plots", action="store_true", help="skip the figures and report.html")
    r.add_argument("--animate", action="store_true",
                   help="also write the control animation (control.gif; control.mp4 with ffmpeg); takes longer")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_run)
    v = sub.add_parser("validate", help="check scenario files without running them")
    v.add_argument("scenarios", type=Path, nargs="+")
    v.set_defaults(func=_cmd_validate)
    q = sub.add_parser("params", help="list mechanism parameters with defaults, ranges and sources")
    q.add_argument("--mechanism", default=None)
    q.set_defaults(func=_cmd_params)
    for module in _command_modules():
        module.register(sub)
    return p


def _command_modules():
    import importlib
    import pkgutil

    from sim import commands

    names = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    return [importlib.import_module(f"sim.commands.{n}") for n in names]


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (kill, a batch scheduler's time limit) stops a command the way Ctrl-C does: runs in
    # progress are cancelled, worker processes shut down and no half-written folder is left.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return args.func(args)
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted; no results folder was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
