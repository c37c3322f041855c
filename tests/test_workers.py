"""Worker processes end with the command that started them, however it ends.

Sweeps, ensembles and calibrations run on a pool of worker processes. A command stopped with SIGTERM
(``kill``, a scheduler's time limit) must stop like Ctrl-C: queued runs dropped, the runs in progress
finished, exit status 130. A command killed outright (SIGKILL) cannot clean up, so each worker watches the
process that started it and ends on its own, even in the middle of a run.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")

SLOW_TASKS = r"""
import sys, time
from sim import cli
from sim.calibrate import Mapper

def slow(args):  # stands in for a long calibration: 8 runs of 3 s on 2 workers
    mapper = Mapper(2)
    try:
        print("started", flush=True)
        return len(mapper(time.sleep, [3] * 8))
    finally:
        mapper.close()

cli._cmd_params = slow
sys.exit(cli.main(["params"]))
"""

ABANDONED_WORKERS = r"""
import time
from sim.calibrate import Mapper

mapper = Mapper(2)
futures = [mapper._local.pool.submit(time.sleep, 120) for _ in range(2)]
time.sleep(1.0)
print(" ".join(str(pid) for pid in mapper._local.pool._processes), flush=True)
time.sleep(300)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


def test_sigterm_stops_a_command_like_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-c", SLOW_TASKS], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(1.0)
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        stopped_in = time.perf_counter() - t0
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    # the two runs in progress finish (under 3 s); the six still queued are dropped, not run (9 s more)
    assert stopped_in < 6.0


def test_workers_end_when_their_parent_is_killed():
    proc = subprocess.Popen([sys.executable, "-c", ABANDONED_WORKERS], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        workers = [int(pid) for pid in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_running(pid) for pid in workers)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    deadline = time.monotonic() + 15
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [pid for pid in workers if _running(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)  # leave nothing behind even when the test fails
    assert not alive, f"workers {alive} outlived their parent by 15 s, in the middle of a 120 s task"
