"""Benchmark: time full baseline runs, the cost of each phase, and Mesa's Epstein example.

    python bench/benchmark.py [--resolution 0.2 0.1 0.05] [--scenario scenarios/baseline.yaml]
                              [--epstein-steps 20]

Runs everything in one process, one full run per resolution (the scenario's
own resolution is the default, 0.1 degree). Prints, per resolution: set-up
seconds, seconds per full run, steps/s, agent-steps/s, the run's peak resident
memory and the time spent in each phase of the step; then a summary table.
Before each timed run the process frees what earlier runs left (Mesa's class-level
neighbourhood caches after the Epstein runs, garbage, and heap the allocator kept:
glibc's malloc_trim), so a run's peak is what it needs on top of the interpreter,
the libraries and the geodata. The compiled kernels (sim/kernels.py) are loaded,
or compiled on a cold cache, once per process before the first timed run; that time is printed apart. Agents are counted two ways: Mesa agents only (factions,
field units, communities alive at each step) and entities (Mesa agents plus
grid cells, each of which carries per-cell state updated every step, as
Epstein's citizens do). Then it times Mesa 3.3.1's bundled Epstein civil
violence model (``mesa.examples``) at the same two agent counts, in the same
process, and prints the ratios. Figures, not pass/fail: nothing here is a test.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import time
import resource
from collections import defaultdict
from pathlib import Path

import mesa

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


def _return_freed_memory() -> None:
    """Collect garbage and hand freed heap back to the OS (glibc's malloc_trim), so that a run's peak
    resident memory is not inflated by what earlier runs in this process freed but the allocator kept."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark for this process (Linux); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_mb(key: str) -> float | None:
    """A memory figure of this process from /proc/self/status (``VmRSS``, ``VmHWM``), None where unsupported."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _peak_rss_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def warm_up(scenario_path: Path) -> float:
    """Seconds to load (or, on a cold cache, compile) the step's kernels: one step of a coarse model."""
    t = time.perf_counter()
    m = LiptakoModel(load_scenario(scenario_path, overrides={"resolution_deg": 0.4}), load_geodata())
    m.step()
    m.release()
    return time.perf_counter() - t


def bench(scenario_path: Path, resolution: float) -> dict:
    sc = load_scenario(scenario_path, overrides={"resolution_deg": resolution})
    geo = load_geodata()
    _return_freed_memory()
    held = _status_mb("VmRSS") or float("nan")
    per_run_peak = _reset_peak_rss()
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
    timings["other (recording, removals)"] = run - sum(timings.values())
    peak = _peak_rss_mb()
    cells = m.world.area_km2.size
    m.release()
    return {"resolution": resolution, "cells": cells, "steps": sc.n_steps, "setup_s": setup, "run_s": run,
            "total_s": setup + run, "agent_steps": agent_steps, "peak_mb": peak, "peak_is_per_run": per_run_peak,
            "held_mb": held, "phases": dict(timings)}


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
    _free_epstein(m)
    return {"side": side, "agents": n, "agent_steps_per_s": n * steps / elapsed}


def _free_epstein(model) -> None:
    """Drop what Mesa 3.3.1 keeps after a model is done: its class-level neighbourhood caches (shared by
    every model in the process) and the per-model agent-id counter; the next timed run then frees the
    memory (:func:`_return_freed_memory`), so its peak is its own and not the Epstein grid's leftovers."""
    from mesa.discrete_space import Cell

    Cell.get_neighborhood.cache_clear()
    Cell._neighborhood.cache_clear()
    mesa.Agent._ids.pop(model, None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", type=Path, default=Path(__file__).resolve().parent.parent / "scenarios" / "baseline.yaml")
    ap.add_argument("--resolution", type=float, nargs="+", default=[0.2, 0.1, 0.05])
    ap.add_argument("--epstein-steps", type=int, default=20, help="steps of the Mesa example to time (0: skip)")
    args = ap.parse_args()
    default = load_scenario(args.scenario).resolution_deg
    print(f"kernels loaded (compiled on a cold cache) in {warm_up(args.scenario):.2f} s, once per process")
    rows = []
    for res in args.resolution:
        r = bench(args.scenario, res)
        tag = " (the scenario's default)" if res == default else ""
        print(f"resolution {r['resolution']} deg{tag}: {r['cells']} cells, {r['steps']} steps")
        print(f"  set-up {r['setup_s']:.2f} s; run {r['run_s']:.2f} s; total {r['total_s']:.2f} s per full run")
        agents = r["agent_steps"] / r["steps"]
        rate = r["agent_steps"] / r["run_s"]
        entity_rate = (r["agent_steps"] + r["cells"] * r["steps"]) / r["run_s"]
        print(f"  {r['steps'] / r['run_s']:.1f} steps/s; {rate:,.0f} agent-steps/s ({agents:.0f} Mesa agents per step on "
              f"average: factions, units, communities); {entity_rate:,.0f} entity-steps/s (Mesa agents + {r['cells']} cells)")
        scope = "this run" if r["peak_is_per_run"] else "whole process so far"
        print(f"  peak resident memory {r['peak_mb']:.0f} MB ({scope}; the process held {r['held_mb']:.0f} MB before "
              "set-up: interpreter, libraries, geodata, and what earlier runs left)")
        total = sum(r["phases"].values())
        for name, t in sorted(r["phases"].items(), key=lambda kv: -kv[1]):
            print(f"    {name:36s} {t:7.2f} s  {100 * t / total:5.1f}%  {1e3 * t / r['steps']:6.2f} ms/step")
        row = {"res": res, "cells": r["cells"], "total_s": r["total_s"], "steps_s": r["steps"] / r["run_s"],
               "rate": rate, "entity_rate": entity_rate, "peak": r["peak_mb"], "agents": agents}
        if args.epstein_steps:
            for key, count, ours in (("ep_agents", agents, rate), ("ep_entities", agents + r["cells"], entity_rate)):
                e = epstein(int(count), args.epstein_steps)
                row[key] = (e["agents"], e["agent_steps_per_s"], ours / e["agent_steps_per_s"])
                print(f"  Mesa Epstein example at {e['agents']} agents ({e['side']}x{e['side']}): "
                      f"{e['agent_steps_per_s']:,.0f} agent-steps/s; liptako is {row[key][2]:.1f}x")
        rows.append(row)
    print("\n| resolution | cells | s per full run | steps/s | agent-steps/s | x Mesa Epstein (same agents) "
          "| entity-steps/s | x Mesa Epstein (same entities) | peak MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ep_a = f"{row['ep_agents'][2]:.1f}" if "ep_agents" in row else "-"
        ep_e = f"{row['ep_entities'][2]:.0f}" if "ep_entities" in row else "-"
        print(f"| {row['res']} | {row['cells']:,} | {row['total_s']:.2f} | {row['steps_s']:.0f} | {row['rate']:,.0f} "
              f"| {ep_a} | {row['entity_rate']:,.0f} | {ep_e} | {row['peak']:.0f} |")
    by_res = {row["res"]: row for row in rows}
    if 0.1 in by_res and 0.05 in by_res:
        a, b = by_res[0.1], by_res[0.05]
        print(f"\n0.05 deg costs {b['total_s'] / a['total_s']:.2f}x the 0.1 deg run for {b['cells'] / a['cells']:.1f}x the cells")


if __name__ == "__main__":
    main()
