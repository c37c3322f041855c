"""``liptako rerun RESULTS_DIR``: reproduce a run from its own folder and say whether the outputs match.

A results folder carries what it takes to run it again: ``scenario.yaml`` (fully
resolved) and, in ``metadata.json``, the master seed and run index. The rerun is
written to a temporary folder (or under ``--keep DIR``) and compared file by file,
byte for byte. ``metadata.json`` is compared without the fields that describe the
moment and the machine (wall time, commit, versions); those are listed instead, so
a mismatch can be traced to a change of code or library. The figures are compared
when the original has them (their bytes depend on matplotlib's version); the report and the animation
are not compared.

Exit status: 0 when every file matches, 1 on any mismatch, 2 when the folder is not
a readable results folder.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from sim.runview import DERIVED_FILES, RUN_FIGURES
from sim.scenario_io import ScenarioError, load_scenario

VOLATILE = ("wall_time_s", "git_commit", "version", "python", "mesa", "numpy")
FIGURES = RUN_FIGURES


def register(subparsers) -> None:
    p = subparsers.add_parser("rerun", help="re-run a results folder from its own scenario and seed, compare outputs")
    p.add_argument("results_dir", type=Path)
    p.add_argument("--keep", type=Path, default=None, metavar="DIR",
                   help="write the rerun's results folder under DIR instead of a temporary location")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_rerun)


def read_results_folder(folder: Path):
    """The scenario and metadata a results folder was written from."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ScenarioError(f"{folder}: not a results folder (no such directory)")
    for name in ("scenario.yaml", "metadata.json"):
        if not (folder / name).is_file():
            raise ScenarioError(f"{folder}: not a results folder (no {name})")
    scenario = load_scenario(folder / "scenario.yaml")
    try:
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{folder / 'metadata.json'}: unreadable: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("master_seed"), int):
        raise ScenarioError(f"{folder / 'metadata.json'}: master_seed: expected an integer")
    if not isinstance(meta.get("run_index", 0), int) or meta.get("run_index", 0) < 0:
        raise ScenarioError(f"{folder / 'metadata.json'}: run_index: expected a non-negative integer")
    return scenario, meta


def _first_difference(a: bytes, b: bytes) -> str:
    """Where two text files first differ, for the report."""
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb), start=1):
        if x != y:
            return f"line {i}: {x[:60].decode(errors='replace')!r} vs {y[:60].decode(errors='replace')!r}"
    return f"{len(la)} vs {len(lb)} lines"


def compare_folders(original: Path, rerun: Path, *, figures: bool = True) -> list[tuple[str, bool, str]]:
    """(file, matches, detail) for every file of either folder; metadata without its volatile fields.
    The report and the animation are left out: they are views of the other files (the report names the
    commit), which ``liptako plot`` and ``liptako report`` add or rewrite at any time."""
    names = sorted(({p.name for p in Path(original).iterdir()} | {p.name for p in Path(rerun).iterdir()})
                   - set(DERIVED_FILES))
    rows = []
    for name in names:
        if not figures and name in FIGURES:
            continue
        a, b = Path(original) / name, Path(rerun) / name
        if not a.exists() or not b.exists():
            rows.append((name, False, "only in the " + ("rerun" if b.exists() else "original")))
            continue
        da, db = a.read_bytes(), b.read_bytes()
        if name == "metadata.json":
            ma, mb = (json.loads(x) for x in (da, db))
            differ = sorted(k for k in set(ma) | set(mb) if k not in VOLATILE and ma.get(k) != mb.get(k))
            rows.append((name, not differ, f"differs in {', '.join(differ)}" if differ
                         else f"equal apart from {', '.join(VOLATILE)}"))
        elif da == db:
            rows.append((name, True, f"{len(da)} bytes identical"))
        elif name.endswith((".csv", ".yaml")):
            rows.append((name, False, _first_difference(da, db)))
        else:
            rows.append((name, False, f"{len(da)} vs {len(db)} bytes"))
    return rows


def rerun_folder(folder: Path, out_root: Path, *, geo=None, progress: bool = False):
    """Run ``folder``'s scenario again with its seed into ``out_root``; return (new folder, rows, meta)."""
    from sim.geodata import load_geodata
    from sim.runner import run, write_results

    scenario, meta = read_results_folder(folder)
    figures = all((Path(folder) / f).exists() for f in FIGURES)
    result = run(scenario, geo or load_geodata(), seed=meta["master_seed"], run_index=meta.get("run_index", 0),
                 progress=progress)
    new = write_results(result, out_root, plots=figures)
    return new, compare_folders(folder, new, figures=figures), meta


def _cmd_rerun(args) -> int:
    folder = args.results_dir
    read_results_folder(folder)  # bad input fails before any work
    if args.keep and Path(args.keep).resolve() == Path(folder).resolve().parent:
        raise ScenarioError(f"--keep {args.keep}: the rerun would replace {folder}; choose another folder")
    with tempfile.TemporaryDirectory(prefix="liptako-rerun.") as tmp:
        new, rows, meta = rerun_folder(folder, args.keep or Path(tmp), progress=not args.quiet)
        new_meta = json.loads((new / "metadata.json").read_text(encoding="utf-8"))
    width = max(len(name) for name, _, _ in rows)
    for name, ok, detail in rows:
        print(f"{name:<{width}}  {'match' if ok else 'MISMATCH'}  {detail}")
    for key in VOLATILE[1:]:
        if meta.get(key) != new_meta.get(key):
            print(f"note: {key} was {meta.get(key)!r}, now {new_meta.get(key)!r}")
    bad = [name for name, ok, _ in rows if not ok]
    print(f"{folder}: " + (f"{len(bad)} of {len(rows)} files differ" if bad else f"all {len(rows)} files match")
          + (f"; rerun kept in {new}" if args.keep else ""))
    return 1 if bad else 0
