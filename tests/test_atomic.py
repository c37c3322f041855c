"""Atomic outputs, tested by really killing writers (SIGKILL), and output paths that cannot escape.

Every kill must leave the results folder complete (the old or the new one) or absent; a later write into
the same folder cleans the dead writer's temporaries and produces the same bytes as an uninterrupted run.
The child processes pause at named points of ``write_results`` (by wrapping the functions it calls) so
each kill lands where intended: in the empty temporary folder, half-way through a file, while plotting,
just before the rename or the swap with an older folder, between the two renames of the fallback for
systems without an atomic swap, and after the folder is in place. The real command is also killed after
increasing delays (start-up, model build, run, writing).
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sim.cli import main
from sim.runner import OutputPathError, _host_tag, check_out_root, clean_stale_temporaries, run, write_results

from conftest import ROOT
from toyworld import toy_scenario

DATA = {"scenario.yaml", "metadata.json", "timeseries.csv", "relations.csv", "events.csv", "control.npz"}
FIGURES = {"control_map.png", "timeseries.png"}
OLD_END, NEW_END = "2019-02-14", "2019-02-28"  # same folder name (toy_seed7), different contents

CHILD = r"""
import os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[3])
from toyworld import toy_geo, toy_scenario
from sim import runner

point, out = sys.argv[1], sys.argv[2]
figures = point == "plotting"  # only there: matplotlib costs a second per process
result = runner.run(toy_scenario(end=sys.argv[4]), toy_geo())

def pause(name, fn, when=lambda *a, **k: True):
    def wrapped(*a, **k):
        if name == point and when(*a, **k):
            print("at", name, flush=True)
            time.sleep(120)
        return fn(*a, **k)
    return wrapped

calls = {"arrays": 0}
def second_array(*a, **k):
    calls["arrays"] += 1
    return calls["arrays"] == 2

runner.scenario_to_yaml = pause("first-file", runner.scenario_to_yaml)
np.lib.format.write_array = pause("mid-file", np.lib.format.write_array, second_array)
if figures:
    from sim import plots
    plots.timeseries = pause("plotting", plots.timeseries)
runner._install = pause("before-rename", runner._install)
runner._exchange = pause("before-swap", runner._exchange)
if point == "between-renames":  # the fallback for systems without an atomic swap
    runner._exchange = lambda a, b: False
    os.replace = pause("between-renames", os.replace, lambda src, dst: str(src).endswith(".tmp"))
runner._fsync_dir = pause("after-rename", runner._fsync_dir, lambda p: not str(p).endswith(".tmp"))
runner.write_results(result, out, plots=figures)
print("done", flush=True)
"""

# point -> what a kill there leaves, without and with an older folder of the same name (None: not tried;
# the swap points exist only when a folder is replaced)
POINTS = {
    "first-file": ("absent", None),
    "mid-file": ("absent", "old"),
    "plotting": ("absent", None),
    "before-rename": ("absent", None),
    "before-swap": (None, "old"),
    "between-renames": (None, "absent"),
    "after-rename": ("new", "new"),
}


def complete(folder: Path, figures: bool = False) -> bool:
    """Every file present and readable to its end."""
    if {p.name for p in folder.iterdir()} != DATA | (FIGURES if figures else set()):
        return False
    json.loads((folder / "metadata.json").read_text())
    for name in ("timeseries.csv", "relations.csv", "events.csv"):
        with open(folder / name, newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows and all(len(r) == len(rows[0]) for r in rows), name
    with np.load(folder / "control.npz") as z:
        assert z["control"].shape[0] == len(z["dates"])
    for name in FIGURES if figures else ():
        data = (folder / name).read_bytes()
        assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82"), name
    return True


def same_outputs(folder: Path, reference: Path) -> bool:
    """Every file of ``folder`` but the metadata (wall time) equals the reference's."""
    return all((folder / p.name).read_bytes() == p.read_bytes() for p in reference.iterdir()
               if p.name != "metadata.json" and (p.name not in FIGURES or (folder / p.name).exists()))


@pytest.fixture(scope="module")
def references(tmp_path_factory, geo_toy):
    root = tmp_path_factory.mktemp("reference")
    old = write_results(run(toy_scenario(end=OLD_END), geo_toy), root / "old", plots=False)
    new = write_results(run(toy_scenario(end=NEW_END), geo_toy), root / "new", plots=False)
    return old, new


def test_killed_writers_leave_complete_folder_or_none(tmp_path, references, geo_toy):
    old_ref, new_ref = references
    jobs = []
    for point, outcomes in POINTS.items():
        for with_old, expected in zip((False, True), outcomes):
            if expected is None:
                continue
            out = tmp_path / f"{point}-{'old' if with_old else 'fresh'}"
            out.mkdir()
            if with_old:
                write_results(run(toy_scenario(end=OLD_END), geo_toy), out, plots=point == "plotting")
            proc = subprocess.Popen([sys.executable, "-c", CHILD, point, str(out), str(ROOT / "tests"), NEW_END],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            jobs.append((point, with_old, expected, out, proc))
    outcomes = []
    for point, with_old, expected, out, proc in jobs:
        marker = f"at {point}"
        deadline = time.monotonic() + 120
        line = ""
        while line.strip() != marker and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line or proc.poll() is None, f"{point}: child ended early: {proc.stderr.read()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"{point}: {proc.returncode}"

        folder = out / "toy_seed7"
        if folder.exists():
            assert complete(folder, figures=point == "plotting"), f"{point}: incomplete folder left behind"
            found = "new" if same_outputs(folder, new_ref) else "old" if same_outputs(folder, old_ref) else "mixed"
        else:
            found = "absent"
        assert found == expected, f"kill at {point} ({'with' if with_old else 'without'} an old folder): {found}"
        outcomes.append((point, with_old, found))

        # resume: the next write cleans the dead writer's temporaries and gives the uninterrupted bytes
        again = write_results(run(toy_scenario(end=NEW_END), geo_toy), out, plots=False)
        assert complete(again) and same_outputs(again, new_ref)
        assert sorted(p.name for p in out.iterdir()) == ["toy_seed7"], f"{point}: temporaries left"
    assert len(outcomes) == 9


def test_stale_temporaries_of_live_or_foreign_writers_are_kept(tmp_path):
    live = tmp_path / f".x_seed1.{_host_tag()}.{os.getppid()}.abcd1234.tmp"
    foreign = tmp_path / ".x_seed1.otherhost.1.abcd1234.tmp"
    unrelated = tmp_path / ".git"
    for p in (live, foreign, unrelated):
        p.mkdir()
    assert clean_stale_temporaries(tmp_path) == []
    assert live.exists() and foreign.exists() and unrelated.exists()


def test_cli_run_killed_at_any_moment(tmp_path):
    """The real command, killed after increasing delays (start-up, model build, run, writing), then resumed.
    The runs go side by side, so the delays land at different phases on slower or faster machines."""
    scenario = tmp_path / "short.yaml"
    scenario.write_text(f"base: {ROOT / 'scenarios' / 'baseline.yaml'}\nname: short\nend: 2017-04-27\n"
                        "events: []\n", encoding="utf-8")

    def cmd(out):
        return [sys.executable, "-m", "sim.cli", "run", str(scenario), "--out", str(out), "--quiet", "--no-plots"]

    delays = (1.5, 3.0, 4.5, 6.0)
    started = time.monotonic()
    procs = [subprocess.Popen(cmd(tmp_path / f"results{k}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for k in range(len(delays))]
    for k, (delay, proc) in enumerate(zip(delays, procs)):
        time.sleep(max(0.0, started + delay - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        folder = tmp_path / f"results{k}" / "short_seed20170302"
        assert not folder.exists() or complete(folder), f"incomplete folder after a kill at {delay} s"
    out = tmp_path / f"results{len(delays) - 1}"  # resume the run killed last, while writing or done
    assert subprocess.run(cmd(out), capture_output=True, timeout=300).returncode == 0
    assert complete(out / "short_seed20170302")
    assert [p.name for p in out.iterdir()] == ["short_seed20170302"], "stale temporaries not cleaned"


# ---------------------------------------------------------------------- output paths


@pytest.mark.parametrize("name", ["../escape", "/tmp/absolute", "a/b", ".hidden", ".."])
def test_names_that_would_escape_are_refused(name, tmp_path, geo_toy):
    result = run(toy_scenario(end="2019-01-17"), geo_toy)
    result.scenario = result.scenario.model_copy(update={"name": name})  # as if validation were bypassed
    out = tmp_path / "out"
    with pytest.raises(OutputPathError):
        write_results(result, out)
    assert list(tmp_path.iterdir()) == [], "nothing written anywhere"


def test_out_pointing_at_a_file_is_refused_before_running(tmp_path, capsys):
    target = tmp_path / "results.txt"
    target.write_text("not a folder")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"base: {ROOT / 'scenarios' / 'baseline.yaml'}\nname: s\n", encoding="utf-8")
    assert main(["run", str(scenario), "--out", str(target), "--quiet"]) == 2
    assert "is a file, expected a folder" in capsys.readouterr().err
    assert main(["run", str(scenario), "--out", str(target / "deeper"), "--quiet"]) == 2
    assert target.read_text() == "not a folder" and sorted(p.name for p in tmp_path.iterdir()) == ["results.txt",
                                                                                                "s.yaml"]
    with pytest.raises(OutputPathError):
        check_out_root(target)
