"""A 2017-2040 run on the default grid completes with bounded memory (slow: run with ``-m slow``).

Each run goes in its own process so ``ru_maxrss`` is that run's peak. The 2040 run has 2.7 times the
steps of the 2017-2025 baseline; its peak must stay within 1.5 times the baseline's.
"""

import json
import subprocess
import sys

import pytest

from conftest import ROOT

BASELINE = ROOT / "scenarios" / "baseline.yaml"

MEASURE = r"""
import json, resource, sys
from sim.cli import main
status = main(["run", sys.argv[1], "--out", sys.argv[2], "--quiet"])
print(json.dumps({"status": status, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _peak(scenario, out) -> float:
    proc = subprocess.run([sys.executable, "-c", MEASURE, str(scenario), str(out)], capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["status"] == 0
    return report["peak_mb"]


@pytest.mark.slow
def test_2017_2040_run_has_bounded_memory(tmp_path):
    long = tmp_path / "long.yaml"
    long.write_text(f"base: {BASELINE}\nname: long_2040\nend: 2040-12-31\n", encoding="utf-8")
    peak_2040 = _peak(long, tmp_path / "out")
    peak_2025 = _peak(BASELINE, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "long_2040_seed20170302" / "metadata.json").read_text())
    print(f"peak RSS: 2017-2025 {peak_2025:.0f} MB, 2017-2040 {peak_2040:.0f} MB "
          f"({meta['counts']['steps']} steps, {meta['wall_time_s']:.0f} s)")
    assert meta["counts"]["steps"] == 1243
    assert peak_2040 < 1.5 * peak_2025 and peak_2040 < 1024
