"""Run a scenario and write its self-describing results folder.

A run is a function: ``run(scenario, geo, seed)`` returns a :class:`RunResult`
held in memory; only :func:`write_results` touches the disk. The run seed is
derived from the master seed with numpy's ``SeedSequence`` so ensembles can take
the i-th child of the same master seed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim import __version__
from sim.actors import ACTOR_NAMES
from sim.eventlog import COLUMNS
from sim.geodata import GeoData, load_geodata
from sim.model import LiptakoModel
from sim.params import Scenario
from sim.scenario_io import scenario_to_yaml

TIMESERIES_COLUMNS = ("date", "actor", "area_km2", "population_ruled", "manpower", "treasury", "support",
                      "strain", "town_focus")
RELATION_COLUMNS = ("date", "actor_a", "actor_b", "state", "hostility", "truce_desire")


def derive_seeds(master: int, n: int) -> list[int]:
    """``n`` independent 63-bit run seeds from one master seed."""
    states = np.random.SeedSequence(master).generate_state(n, dtype=np.uint64)
    return [int(s >> np.uint64(1)) for s in states]


@dataclass
class RunResult:
    scenario: Scenario
    master_seed: int
    run_seed: int
    history: list[dict]
    relation_history: list[dict]
    events: list[dict]
    rasters: list
    lat: np.ndarray
    lon: np.ndarray
    wall_time_s: float
    counts: dict = field(default_factory=dict)
    geo: GeoData | None = None

    def relation_timeline(self, a: str = "JNIM", b: str = "ISGS") -> list[tuple[str, str]]:
        """(date, state) at every change of the relation between ``a`` and ``b``."""
        out, last = [], None
        for row in self.relation_history:
            if {row["actor_a"], row["actor_b"]} == {a, b} and row["state"] != last:
                out.append((row["date"], row["state"]))
                last = row["state"]
        return out


def run(scenario: Scenario, geo: GeoData | None = None, seed: int | None = None, *,
        progress: bool = False, run_index: int = 0) -> RunResult:
    """Run ``scenario`` once; ``seed`` (default: the scenario's) is the master seed."""
    geo = geo or load_geodata()
    master = scenario.seed if seed is None else int(seed)
    run_seed = derive_seeds(master, run_index + 1)[run_index]
    t0 = time.perf_counter()
    model = LiptakoModel(scenario, geo, seed=run_seed)
    counts = {
        "grid_rows": model.world.shape[0],
        "grid_cols": model.world.shape[1],
        "cells": int(model.world.area_km2.size),
        "units_start": len(model.units),
        "communities": len(model.communities),
        "factions": len(model.factions),
    }
    steps = range(scenario.n_steps)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc=scenario.name, unit="step", dynamic_ncols=True)
    for _ in steps:
        model.step()
    wall = time.perf_counter() - t0
    counts["units_end"] = len(model.units)
    counts["agents_end"] = len(model.agents)
    counts["steps"] = scenario.n_steps
    counts["displaced_total"] = round(model.displaced_total)
    counts["civilians_killed_total"] = round(model.civilians_killed_total)
    counts["fighters_killed_total"] = round(model.fighters_killed_total)
    result = RunResult(scenario, master, run_seed, model.history, model.relation_history, model.log.rows,
                       model.rasters, model.world.lat, model.world.lon, wall, counts, geo)
    model.release()
    return result


# ---------------------------------------------------------------------- writing


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _csv(rows: list[dict], columns) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def metadata(result: RunResult) -> dict:
    import mesa

    return {
        "scenario": result.scenario.name,
        "master_seed": result.master_seed,
        "run_seed": result.run_seed,
        "package": "liptako",
        "version": __version__,
        "git_commit": git_commit(),
        "wall_time_s": round(result.wall_time_s, 3),
        "start": result.scenario.start.isoformat(),
        "end": result.scenario.end.isoformat(),
        "step_days": result.scenario.step_days,
        "resolution_deg": result.scenario.resolution_deg,
        "counts": result.counts,
        "jnim_isgs_relation": result.relation_timeline(),
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "numpy": np.__version__,
        "actors": list(ACTOR_NAMES),
    }


def result_dir_name(result: RunResult) -> str:
    return f"{result.scenario.name}_seed{result.master_seed}"


def write_results(result: RunResult, out_root: Path, *, plots: bool = True) -> Path:
    """Write the results folder atomically: a complete folder appears, or none."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / result_dir_name(result)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=out_root))
    try:
        (tmp / "scenario.yaml").write_text(scenario_to_yaml(result.scenario), encoding="utf-8")
        (tmp / "metadata.json").write_text(json.dumps(metadata(result), indent=2), encoding="utf-8")
        (tmp / "timeseries.csv").write_text(_csv(result.history, TIMESERIES_COLUMNS), encoding="utf-8")
        (tmp / "relations.csv").write_text(_csv(result.relation_history, RELATION_COLUMNS), encoding="utf-8")
        (tmp / "events.csv").write_text(_csv(result.events, COLUMNS), encoding="utf-8")
        dates = np.array([d.isoformat() for d, *_ in result.rasters])
        np.savez_compressed(
            tmp / "control.npz",
            dates=dates,
            control=np.stack([c for _, c, _, _ in result.rasters]),
            contested=np.stack([k for _, _, k, _ in result.rasters]),
            lead_share=np.stack([s for _, _, _, s in result.rasters]),
            lat=result.lat,
            lon=result.lon,
            actors=np.array(ACTOR_NAMES),
        )
        if plots:
            from sim import plots as plotting

            plotting.control_maps(result, tmp / "control_map.png")
            plotting.timeseries(result, tmp / "timeseries.png")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=out_root))
            os.replace(final, trash / final.name)
            os.replace(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
