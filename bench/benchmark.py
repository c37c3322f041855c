"""Benchmark: time full baseline runs, the cost of each phase, and Mesa's Epstein example.

    python bench/benchmark.py [--resolution 0.2 0.1 0.05] [--scenario scenarios/baseline.yaml]
                              [--epstein-steps 20]

Prints, per resolution: set-up seconds, seconds per full run, steps/s,
agent-steps/s, peak resident memory of the process and the share of step time
spent in each phase. Agents are counted two ways: Mesa agents only (factions,
field units, communities alive at each step) and entities (Mesa agents plus
grid cells, each of which carries per-cell state updated every step, as
Epstein's citizens do). Then it times Mesa 3.3.1's bundled Epstein civil
violence model (``mesa.examples``) at the same two agent counts, in the same
process, and prints the ratios. Figures, not pass/fail: nothing here is a test.
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


def epstein(agents: int, steps: int) -> dict:
    """Agent-steps/s of Mesa's Epstein civil-violence example with about ``agents`` agents."""
    from mesa.examples.advanced.epstein_civil_violence.model import EpsteinCivilViolence

    density = 0.7 + 0.074  # citizens + cops, the example's defaults
    side = max(5, int(round((agents / density) ** 0.5)))
    m = EpsteinCivilViolence(width=side, height=side, seed=1)
    n = len(m.agents)
    t = time.perf_counter()
    for _ in range(steps):
        m.step()
    elapsed = time.perf_counter() - t
    return {"side": side, "agents": n, "agent_steps_per_s": n * steps / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml")
    ap.add_argument("--resolution", type=float, nargs="+", default=[0.1])
    ap.add_argument("--epstein-steps", type=int, default=20, help="steps of the Mesa example to time (0: skip)")
    args = ap.parse_args()
    for res in args.resolution:
        r = bench(args.scenario, res)
        print(f"resolution {r['resolution']} deg: {r['cells']} cells, {r['steps']} steps")
        print(f"  set-up {r['setup_s']:.2f} s; run {r['run_s']:.2f} s; total {r['total_s']:.2f} s per full run")
        print(f"  {r['steps'] / r['run_s']:.1f} steps/s; {r['agent_steps'] / r['run_s']:,.0f} agent-steps/s "
              f"({r['agent_steps'] / r['steps']:.0f} agents per step on average)")
        print(f"  peak resident memory {r['peak_mb']:.0f} MB (whole process so far)")
        entity_rate = (r["agent_steps"] + r["cells"] * r["steps"]) / r["run_s"]
        print(f"  {entity_rate:,.0f} entity-steps/s (Mesa agents + {r['cells']} cells)")
        total = sum(r["phases"].values())
        for name, t in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
            print(f"    {name:36s} {t:7.2f} s  {100 * t / total:5.1f}%")
        if args.epstein_steps:
            mean_agents = r["agent_steps"] / r["steps"]
            for label, count, rate in (("Mesa agents", mean_agents, r["agent_steps"] / r["run_s"]),
                                       ("entities", mean_agents + r["cells"], entity_rate)):
                e = epstein(int(count), args.epstein_steps)
                print(f"  Mesa Epstein example, {e['agents']} agents ({e['side']}x{e['side']}): "
                      f"{e['agent_steps_per_s']:,.0f} agent-steps/s; liptako/Epstein ({label}) = "
                      f"{rate / e['agent_steps_per_s']:.2f}")


if __name__ == "__main__":
    main()
