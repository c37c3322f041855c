"""Figures, comparisons, reports and the interactive view.

    liptako plot RESULTS_DIR [--out DIR] [--dates D ...] [--no-animation] [--fps N] [--point I]
    liptako compare RUN_A RUN_B [--out DIR] [--dates D ...] [--point-a I] [--point-b I]
    liptako report RESULTS_DIR [--out FILE]
    liptako app SCENARIO.yaml [--seed N] [--port N] [--host ADDRESS]

RESULTS_DIR, RUN_A and RUN_B are a results folder, a folder of results folders of one scenario
(an ensemble of seeds) or a sweep folder (see :mod:`sim.runview`); everything is rebuilt from the
files, so old runs can be plotted again. Bad input exits with status 2.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

from sim.scenario_io import ScenarioError

COMPARE_DATES = ("2020-12-01", "2022-06-01", "2025-06-01")


def register(subparsers) -> None:
    p = subparsers.add_parser("plot", help="figures, animation and report of a results folder or an ensemble")
    p.add_argument("results_dir", type=Path)
    p.add_argument("--out", type=Path, default=None, help="write into DIR instead of the results folder")
    p.add_argument("--dates", nargs="+", default=None, metavar="D",
                   help="dates of the small multiples (YYYY-MM-DD; default: the documented phase dates)")
    p.add_argument("--no-animation", action="store_true", help="skip the GIF / MP4 animation")
    p.add_argument("--fps", type=float, default=4.0, help="animation frames per second (default 4)")
    p.add_argument("--point", type=int, default=0, help="for a sweep folder: the point to plot (default 0)")
    p.set_defaults(func=_cmd_plot)

    c = subparsers.add_parser("compare", help="difference maps and side-by-side series of two runs or ensembles")
    c.add_argument("run_a", type=Path)
    c.add_argument("run_b", type=Path)
    c.add_argument("--out", type=Path, default=None,
                   help="output folder (default: results/compare/<A>_vs_<B>)")
    c.add_argument("--dates", nargs="+", default=None, metavar="D",
                   help=f"dates of the difference maps (default: those of {', '.join(COMPARE_DATES)} inside both runs)")
    c.add_argument("--point-a", type=int, default=0, help="for a sweep folder A: the point (default 0)")
    c.add_argument("--point-b", type=int, default=0, help="for a sweep folder B: the point (default 0)")
    c.set_defaults(func=_cmd_compare)

    r = subparsers.add_parser("report", help="a self-contained HTML report of one run (figures embedded)")
    r.add_argument("results_dir", type=Path)
    r.add_argument("--out", type=Path, default=None, help="report file (default: RESULTS_DIR/report.html)")
    r.set_defaults(func=_cmd_report)

    a = subparsers.add_parser("app", help="interactive view of a scenario in the browser (Mesa SolaraViz)")
    a.add_argument("scenario", type=Path)
    a.add_argument("--seed", type=int, default=None, help="master seed (default: the scenario's)")
    a.add_argument("--port", type=int, default=8765, help="port to serve on (default 8765; 0: any free port)")
    a.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    a.set_defaults(func=_cmd_app)


def _dates(values, flag: str = "--dates") -> list[dt.date] | None:
    if values is None:
        return None
    out = []
    for v in values:
        try:
            out.append(dt.date.fromisoformat(v))
        except ValueError:
            raise ScenarioError(f"{flag} {v}: expected a date YYYY-MM-DD") from None
    return out


def _outdir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ScenarioError(f"--out {path}: cannot create the folder: {exc.strerror}") from None
    if not os.access(path, os.W_OK):
        raise ScenarioError(f"--out {path}: not writable")
    return path


def _inside(view, dates: list[dt.date], flag: str = "--dates") -> None:
    sc = view.scenario
    bad = [d for d in dates if not sc.start <= d <= sc.end]
    if bad:
        raise ScenarioError(f"{flag} {bad[0]}: outside {view.label}'s run {sc.start} to {sc.end}")


def _report_sizes(paths, t0: float) -> None:
    for p in paths:
        print(f"wrote {p} ({Path(p).stat().st_size / 1024:.0f} kB)")
    print(f"{len(paths)} files in {time.perf_counter() - t0:.1f} s")


def _cmd_plot(args) -> int:
    from sim import plots
    from sim.report import folder_metadata, write_report
    from sim.runview import load_view

    t0 = time.perf_counter()
    view = load_view(args.results_dir, point=args.point)
    dates = _dates(args.dates)
    if dates is not None:
        if not view.has_maps:
            raise ScenarioError(f"--dates: {view.label} has no control maps (a sweep keeps only series)")
        _inside(view, dates)
    if args.fps <= 0:
        raise ScenarioError(f"--fps {args.fps}: expected a positive number")
    out = _outdir(args.out or args.results_dir)
    written = plots.write_figures(view, out, dates=dates or plots.MAP_DATES, animate=not args.no_animation,
                                  fps=args.fps)
    if view.kind == "run":
        embedded = [p for p in written if p.suffix in (".png", ".gif")]
        written.append(write_report(view, out / "report.html", embedded, folder_metadata(args.results_dir)))
    _report_sizes(written, t0)
    return 0


def _cmd_compare(args) -> int:
    from sim import plots
    from sim.runview import load_view

    t0 = time.perf_counter()
    a = load_view(args.run_a, point=args.point_a)
    b = load_view(args.run_b, point=args.point_b)
    pair = f"{args.run_a.resolve().name}_vs_{args.run_b.resolve().name}"
    out = _outdir(args.out or Path("results") / "compare" / pair)
    written = []
    if a.has_maps and b.has_maps:
        if a.runs[0].lat.shape != b.runs[0].lat.shape or a.runs[0].lon.shape != b.runs[0].lon.shape:
            raise ScenarioError(f"{args.run_a} and {args.run_b} use different grids (resolution_deg): the difference "
                                "map needs the same grid")
        dates = _dates(args.dates)
        if dates is None:
            lo, hi = max(a.scenario.start, b.scenario.start), min(a.scenario.end, b.scenario.end)
            dates = [d for d in map(dt.date.fromisoformat, COMPARE_DATES) if lo <= d <= hi] or [hi]
        else:
            _inside(a, dates)
            _inside(b, dates)
        written.append(plots.compare_maps(a, b, out / "control_diff.png", dates))
        for d in dates:
            da, ca, *_ = a.control_at(d)
            db, cb, *_ = b.control_at(d)
            print(f"{d}: control differs on {(ca != cb).mean() * 100:.1f}% of cells (A {da}, B {db})")
    else:
        print("no difference map: a sweep folder keeps no control rasters", file=sys.stderr)
    written.append(plots.compare_series(a, b, out / "series.png"))
    _report_sizes(written, t0)
    return 0


def _cmd_report(args) -> int:
    from sim import plots
    from sim.report import folder_metadata, write_report
    from sim.runview import load_view

    t0 = time.perf_counter()
    view = load_view(args.results_dir)
    if view.kind != "run":
        raise ScenarioError(f"{args.results_dir}: a report is made for one run; give a results folder")
    target = args.out or Path(args.results_dir) / "report.html"
    if not target.parent.is_dir():
        raise ScenarioError(f"--out {target}: no folder {target.parent}")
    with tempfile.TemporaryDirectory(prefix="liptako-report.") as tmp:
        figures = plots.write_figures(view, Path(tmp))  # drawn from the data, whatever figures the folder holds
        animation = Path(args.results_dir) / plots.GIF
        if animation.is_file():
            figures.insert(1, animation)
        path = write_report(view, target, figures, folder_metadata(args.results_dir))
    _report_sizes([path], t0)
    return 0


def _cmd_app(args) -> int:
    from sim.geodata import load_geodata
    from sim.scenario_io import check_places, load_scenario

    scenario = load_scenario(args.scenario)
    check_places(scenario, load_geodata(), args.scenario)
    if not 0 <= args.port <= 65535:
        raise ScenarioError(f"--port {args.port}: expected 0 to 65535")
    port = args.port or _free_port(args.host)
    try:
        import mesa.visualization  # noqa: F401
        import solara  # noqa: F401
    except ImportError as exc:
        print(f"error: the interactive view needs solara ({exc}); install it with pip install -e \".[app]\"",
              file=sys.stderr)
        return 1
    env = dict(os.environ, LIPTAKO_APP_SCENARIO=str(Path(args.scenario).resolve()))
    if args.seed is not None:
        env["LIPTAKO_APP_SEED"] = str(args.seed)
    cmd = [sys.executable, "-m", "solara", "run", "sim.app", "--host", args.host, "--port", str(port),
           "--no-open", "--production", "--log-level", "warning"]
    print(f"serving {scenario.name} on http://{args.host}:{port} (Ctrl-C stops)", flush=True)
    os.execve(sys.executable, cmd, env)  # the server replaces this process, so stopping it stops everything


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
