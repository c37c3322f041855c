"""Sweep throughput: runs per minute with 1 and 2 local workers and on a 2-worker Dask LocalCluster.

    python bench/sweep_scaling.py [--runs 8] [--resolution 0.1] [--end 2025-12-31] [--configs NAME ...]

Every configuration runs the same seed ensemble of the baseline (``--runs`` seeds)
into a fresh folder; the rate is finished runs over the wall time of
:func:`sim.sweep.run_sweep`, start-up of the local worker processes included, as
a user sees it. The results must not depend on the executor: the script checks
that the three tables agree. The LocalCluster's own start-up is left out, as a
cluster is usually running before a sweep is sent to it.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


# Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 in its workers by default, which switches off glibc's
# adaptive mmap threshold: the model's arrays above 128 KiB are then mapped and unmapped at every
# allocation. "dask2-untrimmed" unsets it, as the README recommends for real clusters.
UNTRIMMED = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
CONFIGS = {"local1": ("1 local worker", 1, None), "local2": ("2 local workers", 2, None),
           "dask2": ("Dask LocalCluster, 2 workers", None, {}),
           "dask2-untrimmed": ("Dask LocalCluster, 2 workers, no MALLOC_TRIM_THRESHOLD_", None, UNTRIMMED)}


def spec(runs: int, resolution: float, end: str) -> dict:
    return {
        "name": "bench",
        "scenario": str(ROOT / "scenarios" / "baseline.yaml"),
        "overrides": {"resolution_deg": resolution, "end": end},
        "drop_events_outside_run": True,
        "replicates": runs,
        "seed": 1,
        "outputs": {"jnim_manpower": {"metric": "series", "actor": "JNIM", "column": "manpower", "date": end}},
    }


def rows(folder: Path) -> list[dict]:
    with open(folder / "results.csv", newline="") as fh:
        return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in csv.DictReader(fh)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--resolution", type=float, default=0.1)
    p.add_argument("--end", default="2025-12-31")
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS),
                   help="which executors to time (default: all)")
    args = p.parse_args()

    import dask
    from distributed import LocalCluster

    from sim.sweep import load_sweep, run_sweep

    tmp = Path(tempfile.mkdtemp(prefix="sweep_bench_"))
    path = tmp / "bench.yaml"
    path.write_text(yaml.safe_dump(spec(args.runs, args.resolution, args.end)))
    sweep = load_sweep(path)
    print(f"{args.runs} runs of the baseline at {args.resolution} degree to {args.end}; "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
    rates, tables = {}, []
    for label, workers, dask_config in (CONFIGS[c] for c in args.configs):
        out = tmp / label.replace(" ", "_").replace(",", "")
        if workers:
            t0 = time.perf_counter()
            report = run_sweep(sweep, out, workers=workers, progress=False)
            seconds = time.perf_counter() - t0
        else:
            saved = dict(os.environ)  # the nannies set their variables in this process too; undo that after
            t0 = time.perf_counter()
            with dask.config.set(dask_config), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                            host="127.0.0.1", dashboard_address=None) as cluster:
                print(f"(the LocalCluster took {time.perf_counter() - t0:.1f} s to start; not counted below)")
                t0 = time.perf_counter()
                report = run_sweep(sweep, out, scheduler=cluster.scheduler_address, progress=False)
                seconds = time.perf_counter() - t0
            os.environ.clear()
            os.environ.update(saved)
        assert report.finished == args.runs and not report.failed
        rates[label] = args.runs / seconds * 60
        tables.append(rows(out))
        print(f"{label:56s} {seconds:7.1f} s  {rates[label]:6.2f} runs/min  (load average after: "
              f"{os.getloadavg()[0]:.2f}; over 2 means something else shared the cores)")
    base = rates.get("1 local worker")
    for label, rate in rates.items():
        if base and label != "1 local worker":
            print(f"{label} vs 1 local worker: {rate / base:.2f}x")
    same = all(t == tables[0] for t in tables)
    print("results identical across executors:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
