"""Benchmark: time full baseline runs and the cost of each phase of the step.

    python bench/benchmark.py [--resolution 0.1 0.2] [--scenario scenarios/baseline.yaml]

Prints, per resolution: set-up seconds, seconds per full run, steps/s,
agent-steps/s (agents = every Mesa agent alive at each step: factions, field
units and communities), peak resident memory of the process and the share of step
time spent in each phase. Figures, not pass/fail: nothing here is a test.
"""

from __future__ import annotations

import argparse
import time
import resource
from collections import defaultdict
from pathlib import Path

from sim import model as model_module
from sim.geodata import load_geodata
from sim.model import LiptakoModel
from sim.scenario_io import load_scenario

PHASES = [
    ("exogenous", "apply_due_events"),
    ("economy", "collect_income"),
    ("territory", "update_influence"),
    ("engagement", "update_attitudes"),
    ("engagement", "community_actions"),
    ("counterinsurgency", "state_operations"),
    ("territory", "move_units"),
    ("territory", "resolve_clashes"),
    ("escalation", "reprisals"),
    ("defection", "defections"),
    ("relations", "update"),
]


def _instrument(timings):
    """Wrap each phase function as the model module sees it; return an undo function."""
    originals = []
    for mod_name, fn_name in PHASES:
        mod = getattr(model_module, mod_name)
        fn = getattr(mod, fn_name)

        def timed(*args, _fn=fn, _key=f"{mod_name}.{fn_name}", **kwargs):
            t = time.perf_counter()
            out = _fn(*args, **kwargs)
            timings[_key] += time.perf_counter() - t
            return out

        setattr(mod, fn_name, timed)
        originals.append((mod, fn_name, fn))

    def undo():
        for mod, name, fn in originals:
            setattr(mod, name, fn)

    return undo


def bench(scenario_path: Path, resolution: float) -> dict:
    sc = load_scenario(scenario_path, overrides={"resolution_deg": resolution})
    geo = load_geodata()
    t0 = time.perf_counter()
    m = LiptakoModel(sc, geo)
    setup = time.perf_counter() - t0
    timings: dict[str, float] = defaultdict(float)
    undo = _instrument(timings)
    agent_steps = 0
    t1 = time.perf_counter()
    try:
        for _ in range(sc.n_steps):
            agent_steps += len(m.agents)
            m.step()
    finally:
        undo()
    run = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB
    cells = m.world.area_km2.size
    m.release()
    return {"resolution": resolution, "cells": cells, "steps": sc.n_steps, "setup_s": setup, "run_s": run,
            "total_s": setup + run, "agent_steps": agent_steps, "peak_mb": peak / 2**20, "phases": dict(timings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml")
    ap.add_argument("--resolution", type=float, nargs="+", default=[0.1])
    args = ap.parse_args()
    for res in args.resolution:
        r = bench(args.scenario, res)
        print(f"resolution {r['resolution']} deg: {r['cells']} cells, {r['steps']} steps")
        print(f"  set-up {r['setup_s']:.2f} s; run {r['run_s']:.2f} s; total {r['total_s']:.2f} s per full run")
        print(f"  {r['steps'] / r['run_s']:.1f} steps/s; {r['agent_steps'] / r['run_s']:,.0f} agent-steps/s "
              f"({r['agent_steps'] / r['steps']:.0f} agents per step on average)")
        print(f"  peak resident memory {r['peak_mb']:.0f} MB (whole process so far)")
        total = sum(r["phases"].values())
        for name, t in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
            print(f"    {name:36s} {t:7.2f} s  {100 * t / total:5.1f}%")


if __name__ == "__main__":
    main()
