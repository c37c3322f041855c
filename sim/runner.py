"""Run a scenario and write its self-describing results folder.

A run is a function: ``run(scenario, geo, seed)`` returns a :class:`RunResult`
held in memory; only :func:`write_results` touches the disk. The run seed is
derived from the master seed with numpy's ``SeedSequence`` so ensembles can take
the i-th child of the same master seed.

Writing is atomic: the folder is built under a dot-prefixed temporary name
(``.<folder>.<host>.<pid>.<random>.tmp``) in the same directory and renamed into
place, so a run killed at any moment leaves the complete folder or none. A
temporary left by a killed writer is removed by the next write into the same
directory once its process (on this host) is gone; readers ignore dot-prefixed
entries. The deterministic files (all but ``metadata.json``'s wall time, commit
and versions) are byte-identical for the same scenario, seed and code.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sim import __version__, relations
from sim.actors import ACTOR_NAMES
from sim.eventlog import COLUMNS
from sim.geodata import GeoData, load_geodata
from sim.model import LiptakoModel
from sim.params import Scenario
from sim.scenario_io import ScenarioError, scenario_to_yaml

TIMESERIES_COLUMNS = ("date", "actor", "area_km2", "population_ruled", "manpower", "treasury", "support",
                      "strain", "town_focus")
RELATION_COLUMNS = ("date", "actor_a", "actor_b", "state", "hostility", "truce_desire",
                    *(f"desire_{name}" for name in relations.DESIRE_PARTS))


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
    run_index: int = 0

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
                       model.rasters, model.world.lat, model.world.lon, wall, counts, geo, run_index)
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
        "run_index": result.run_index,
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
        "geodata_sha256": geodata_digest(result.geo),
        "jnim_isgs_relation": result.relation_timeline(),
        "python": platform.python_version(),
        "mesa": mesa.__version__,
        "numpy": np.__version__,
        "actors": list(ACTOR_NAMES),
    }


def geodata_digest(geo: GeoData | None) -> str:
    """Fingerprint of the geography a run used, so a rerun can tell whether seeds/ changed."""
    return hashlib.sha256(repr(geo).encode()).hexdigest() if geo is not None else "unknown"


class OutputPathError(ScenarioError):
    """An output location that cannot receive a results folder (bad input: exit status 2)."""


_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def result_dir_name(result: RunResult) -> str:
    name = f"{result.scenario.name}_seed{result.master_seed}"
    # the schema already restricts names; this guards results built without validation
    if not _SAFE_NAME.match(name):
        raise OutputPathError(f"scenario name {result.scenario.name!r} cannot name a results folder: "
                              "use letters, digits, '_', '.', '-', not starting with '.'")
    return name


def check_out_root(out_root: Path) -> Path:
    """Fail early, before a run, if ``out_root`` cannot hold results folders."""
    out_root = Path(out_root)
    probe = out_root
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputPathError(f"--out {out_root}: {probe} is a file, expected a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"--out {out_root}: {probe} is not writable")
    return out_root


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temporaries(out_root: Path) -> list[Path]:
    """Remove temporaries (``.<folder>.<host>.<pid>.<random>.tmp|.old``) whose writer on this host has
    died; another host's or a live writer's are left alone. Returns what was removed."""
    removed = []
    host = _host_tag()
    try:
        entries = list(Path(out_root).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not p.name.startswith(".") or not p.name.endswith((".tmp", ".old")):
            continue
        parts = p.name[1:].rsplit(".", 4)
        if len(parts) != 5 or parts[1] != host or not parts[2].isdigit():
            continue
        if int(parts[2]) != os.getpid() and not _pid_alive(int(parts[2])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _temporary(out_root: Path, final: Path, suffix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f".{final.name}.{_host_tag()}.{os.getpid()}.", suffix=suffix, dir=out_root))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o777 & ~umask)  # mkdtemp makes it private; the results folder should read like any other
    return path


def _save_npz(path: Path, **arrays) -> None:
    """np.savez_compressed with a fixed timestamp on each member, so equal arrays give equal bytes
    (numpy stamps members with the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _install(tmp: Path, final: Path, out_root: Path) -> None:
    """Move the finished ``tmp`` folder to ``final``; an existing ``final`` is swapped out in one step
    where the system allows, so a kill never leaves neither the old nor the new folder."""
    try:
        os.rename(tmp, final)
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if _exchange(tmp, final):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the previous results
        return
    trash = _temporary(out_root, final, ".old")
    os.replace(final, trash / final.name)
    os.replace(tmp, final)
    shutil.rmtree(trash, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_results(result: RunResult, out_root: Path, *, plots: bool = True, animate: bool = False) -> Path:
    """Write the results folder atomically: a complete folder appears, or none. ``plots``: the figures
    and ``report.html``; ``animate``: also the control animation (GIF, and MP4 with ffmpeg)."""
    out_root = check_out_root(out_root)
    final = out_root / result_dir_name(result)
    try:
        out_root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"--out {out_root}: cannot create the folder: {exc.strerror}") from None
    clean_stale_temporaries(out_root)
    tmp = _temporary(out_root, final, ".tmp")
    try:
        (tmp / "scenario.yaml").write_text(scenario_to_yaml(result.scenario), encoding="utf-8")
        (tmp / "metadata.json").write_text(json.dumps(metadata(result), indent=2), encoding="utf-8")
        (tmp / "timeseries.csv").write_text(_csv(result.history, TIMESERIES_COLUMNS), encoding="utf-8")
        (tmp / "relations.csv").write_text(_csv(result.relation_history, RELATION_COLUMNS), encoding="utf-8")
        (tmp / "events.csv").write_text(_csv(result.events, COLUMNS), encoding="utf-8")
        dates = np.array([d.isoformat() for d, *_ in result.rasters])
        _save_npz(
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
            from sim.report import write_report

            figures = plotting.write_figures(result, tmp, animate=animate)
            write_report(result, tmp / "report.html", figures, metadata(result))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        _install(tmp, final, out_root)
        _fsync_dir(out_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
