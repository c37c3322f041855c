"""Parameter sweeps: a validated YAML spec, a sampled plan, resumable runs on a process pool or Dask.

A sweep spec (see ``scenarios/sweeps/``) names a base scenario, the parameters
to vary (explicit values or ranges, sampled as a full grid, a Latin hypercube,
a Sobol/Saltelli design or Morris trajectories), the replicates per point, one
master seed, the metrics to record (:mod:`sim.metrics`), optional time series to
keep for ensemble summaries, and the executor. :func:`load_sweep` validates it
the way scenarios are validated: every error names the file, the key path, the
line and what was expected, and nothing is written.

Seeds: run (point ``i``, replicate ``k``) takes the state of
``SeedSequence(master, spawn_key=(i, k))`` (the ``k``-th child of the ``i``-th
child of the master seed) as the ``--seed`` it would be given on the command
line, so a run's seed never depends on worker count or completion order. With
``common_random_numbers: true`` every point uses point 0's seeds, so replicate
``k`` sees the same random stream at every point.

Storage: each finished run is one small JSON file in ``runs/`` (parameters,
seeds, metrics, recorded series) written under a temporary name, fsynced and
renamed. A rename is atomic, so a sweep killed at any moment leaves complete
files or none: no run that finished is lost and no row is half-written. This
was preferred to an append-only CSV because resuming needs no repair of a torn
last line, a run's time series travel with it, and it does not matter whether
the result came back from a local process or a Dask worker. ``results.csv``
(one row per run) is rebuilt from the files, atomically, at the end of every
invocation. Rerunning the same command checks the manifest, revalidates the
files against the plan and runs only what is missing.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import functools
import hashlib
import io
import itertools
import json
import os
import platform
import re
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as futures_wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args, get_origin

import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from sim import __version__
from sim.actors import ACTOR_NAMES
from sim.metrics import SERIES_COLUMNS, ControlMetric, Metric, as_date
from sim.params import Frozen, Scenario
from sim.scenario_io import (
    ScenarioError,
    _line_map,
    load_scenario,
    read_yaml,
    resolve,
    scenario_to_yaml,
)

FIXED_COLUMNS = ("run_id", "point", "replicate", "seed", "run_seed")
NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


# ---------------------------------------------------------------------- the spec


class ParamSpec(Frozen):
    """One varied parameter: explicit ``values``, or a ``range`` (default: its plausible range)."""

    values: list[bool | int | float | str] | None = Field(None, min_length=1)
    range: tuple[float, float] | None = None
    levels: int | None = Field(None, ge=2, le=1001, description="grid points along a range (default 3)")

    @model_validator(mode="after")
    def _one_kind(self):
        if self.values is not None and (self.range is not None or self.levels is not None):
            raise ValueError("give either values or a range (with levels), not both")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [low, high] with low < high")
        return self


class Sampling(Frozen):
    """How points are drawn from the parameter ranges."""

    method: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    n: int | None = Field(None, ge=1, le=1_000_000,
                          description="lhs: points; sobol: base sample (a power of 2); morris: trajectories")
    second_order: bool = Field(False, description="sobol: also second-order indices "
                                                  "(n * (2d + 2) points instead of n * (d + 2))")
    morris_levels: int = Field(4, ge=2, le=20, description="morris: grid levels")

    @model_validator(mode="after")
    def _size(self):
        if self.method == "grid" and self.n is not None:
            raise ValueError("a grid's size follows from the values and levels; remove n")
        if self.method != "grid" and self.n is None:
            raise ValueError(f"sampling {self.method!r} needs n")
        if self.method == "sobol" and self.n & (self.n - 1):
            raise ValueError(f"sobol needs n to be a power of 2, got {self.n}")
        if self.second_order and self.method != "sobol":
            raise ValueError("second_order applies to sobol sampling only")
        return self


class Executor(Frozen):
    """Where the runs execute: local processes (default: all cores) or a Dask scheduler."""

    kind: Literal["local", "dask"] = "local"
    workers: int | None = Field(None, ge=1, le=4096, description="local worker processes (default: all cores)")
    scheduler: str | None = Field(None, min_length=1, description="dask scheduler address, e.g. tcp://10.0.0.5:8786")

    @model_validator(mode="after")
    def _fits(self):
        if self.kind == "local" and self.scheduler:
            raise ValueError("a scheduler address needs kind: dask")
        if self.kind == "dask" and self.workers:
            raise ValueError("workers applies to the local executor; a Dask cluster has its own")
        return self


class SweepSpec(Frozen):
    """A sweep spec file, validated."""

    # Starts with a letter or digit, so the default folder results/sweeps/<name> cannot be "." or "..".
    name: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    description: str = ""
    scenario: str = Field(min_length=1, description="base scenario, relative to the spec file")
    overrides: dict = Field(default_factory=dict, description="merged into the base scenario for every run")
    drop_events_outside_run: bool = Field(False, description="drop dated events that fall outside a shortened run")
    parameters: dict[str, ParamSpec] = Field(default_factory=dict)
    sampling: Sampling = Sampling()
    replicates: int = Field(1, ge=1, le=100_000)
    seed: int = Field(ge=0, le=2**63 - 1)
    common_random_numbers: bool = False
    outputs: dict[str, Metric] = Field(min_length=1)
    timeseries: list[str] = Field(default_factory=list, description="ACTOR.column series kept for ensemble summaries")
    executor: Executor = Executor()

    @field_validator("executor", mode="before")
    @classmethod
    def _shorthand(cls, v):
        return {"kind": v} if isinstance(v, str) else v

    @field_validator("outputs")
    @classmethod
    def _metric_names(cls, v):
        bad = [k for k in v if not re.match(NAME, k) or k in FIXED_COLUMNS or k == "wall_time_s"]
        if bad:
            raise ValueError(f"output name(s) {bad} must be identifiers (letters, digits, _) "
                             f"other than {list(FIXED_COLUMNS)} and wall_time_s")
        return v

    @field_validator("timeseries")
    @classmethod
    def _series(cls, v):
        for s in v:
            actor, _, column = s.rpartition(".")
            if actor not in ACTOR_NAMES or column not in SERIES_COLUMNS:
                raise ValueError(f"{s!r} is not ACTOR.column with an actor of {list(ACTOR_NAMES)} "
                                 f"and a column of {list(SERIES_COLUMNS)}")
        if len(set(v)) != len(v):
            raise ValueError("a series is listed twice")
        return v


_SPEC_MODELS = {"sampling": Sampling, "executor": Executor}
_METRIC_CLASSES = {get_args(c.model_fields["metric"].annotation)[0]: c for c in get_args(get_args(Metric)[0])}


# ---------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Parameter:
    """A varied parameter after validation: its key path, type, and values or bounds."""

    path: str
    kind: str  # float | int | other
    values: tuple | None
    bounds: tuple[float, float] | None

    def cast(self, x):
        """A sampled number as the parameter's type (integers round)."""
        return int(round(float(x))) if self.kind == "int" else float(x)


@dataclass(frozen=True)
class Task:
    """Everything one run needs; pickled to a local worker process or a Dask worker."""

    run_id: str
    point: int
    replicate: int
    seed: int
    params: dict
    base: dict  # the resolved base scenario as JSON-compatible data
    outputs: dict
    series: tuple[str, ...]


@dataclass
class Sweep:
    """A validated sweep: the spec, its base scenario and the sampled points."""

    spec: SweepSpec
    path: Path
    base: Scenario
    dropped_events: list[str]
    parameters: list[Parameter]
    points: list[dict]
    sample: np.ndarray | None = None  # the design matrix for sobol / morris, one row per point
    notes: list[str] = field(default_factory=list)  # warnings worth printing (e.g. values beyond the plausible range)
    fingerprint: str = ""
    base_data: dict = field(default_factory=dict, repr=False)  # the base scenario as JSON data, for the tasks

    @property
    def n_runs(self) -> int:
        return len(self.points) * self.spec.replicates

    def problem(self) -> dict:
        """The SALib problem (names and bounds) of the varied parameters."""
        return {"num_vars": len(self.parameters), "names": [p.path for p in self.parameters],
                "bounds": [list(p.bounds) for p in self.parameters]}

    def seed_of(self, point: int, replicate: int) -> int:
        """The master seed of run (point, replicate); see the module docstring."""
        key = (0 if self.spec.common_random_numbers else point, replicate)
        state = np.random.SeedSequence(self.spec.seed, spawn_key=key).generate_state(1, dtype=np.uint64)[0]
        return int(state >> np.uint64(1))

    def tasks(self) -> list[Task]:
        """Every run of the sweep, point by point, replicate by replicate."""
        series = tuple(self.spec.timeseries)
        return [Task(f"p{i}_r{k}", i, k, self.seed_of(i, k), params, self.base_data, dict(self.spec.outputs), series)
                for i, params in enumerate(self.points) for k in range(self.spec.replicates)]


def apply_overrides(data: dict, overrides: dict) -> dict:
    """``data`` with ``overrides`` merged in key by key (mappings merge, everything else replaces)."""
    out = dict(data)
    for k, v in overrides.items():
        out[k] = apply_overrides(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def nest(params: dict) -> dict:
    """``{"a.b.c": 1}`` as ``{"a": {"b": {"c": 1}}}``."""
    out: dict = {}
    for path, value in params.items():
        *head, leaf = path.split(".")
        node = out
        for part in head:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def drop_events_outside(data: dict) -> tuple[dict, list[str]]:
    """The scenario mapping without the dated events outside its start..end, and their ids."""
    start = as_date(data.get("start", Scenario.model_fields["start"].default))
    end = as_date(data.get("end", Scenario.model_fields["end"].default))
    kept, dropped = [], []
    for e in data.get("events", []):
        try:
            inside = start <= as_date(e["date"]) <= end
        except (KeyError, TypeError, ValueError):
            inside = True  # malformed: let validation report it
        (kept if inside else dropped).append(e)
    return {**data, "events": kept}, [str(e.get("id")) for e in dropped]


def _walk_schema(parts) -> tuple:
    """(FieldInfo, model class) at a scenario key path; dict keys such as actor names are skipped.

    The class is the pydantic model the path leads into (None at a plain value);
    both are None where the path leaves the schema.
    """
    cls, info, parts = Scenario, None, list(parts)
    while parts:
        if cls is None:
            return None, None
        info = cls.model_fields.get(parts.pop(0))
        if info is None:
            return None, None
        ann = info.annotation
        if get_origin(ann) is dict:
            if not parts:
                return info, None
            parts.pop(0)
            ann = get_args(ann)[1]
        cls = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return info, cls


# ---------------------------------------------------------------------- loading and validation


def load_sweep(path) -> Sweep:
    """Read and validate a sweep spec, its base scenario and every point; raise ScenarioError."""
    path = Path(path)
    raw, text = read_yaml(path)
    lines = _line_map(text)

    def fail(loc: tuple, msg: str):
        raise ScenarioError(_where(path, loc, lines) + msg)

    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_format_spec_errors(path, exc, lines, raw)) from None

    base_path = (path.parent / spec.scenario).resolve()
    if not base_path.is_file():
        fail(("scenario",), f"no such scenario file {str(base_path)!r}")
    try:
        load_scenario(base_path)  # so that errors of the base itself name the base file
    except ScenarioError as exc:
        fail(("scenario",), f"the base scenario is not valid:\n{exc}")
    data = apply_overrides(resolve(base_path), spec.overrides)
    dropped: list[str] = []
    if spec.drop_events_outside_run:
        data, dropped = drop_events_outside(data)
    try:
        base = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                _, cls = _walk_schema(loc[:-1]) if loc[:-1] else (None, Scenario)
                msg = "unknown key" + _did_you_mean(loc[-1], list(cls.model_fields) if cls else [])
            if "outside the run" in msg and not spec.drop_events_outside_run:
                msg += "; set drop_events_outside_run: true to drop the events a shortened run does not reach"
            problems.append(_where(path, ("overrides",) + loc, lines) + msg)
        raise ScenarioError("\n".join(problems)) from None
    base_data = base.model_dump(mode="json")

    if "seed" in spec.overrides or "seed" in spec.parameters:
        fail(("overrides" if "seed" in spec.overrides else "parameters", "seed"),
             "the sweep's own seed sets every run's seed (see `seeds` in the manifest); remove this")
    notes: list[str] = []
    parameters = [_parameter(name, ps, spec, base_data, fail, notes) for name, ps in spec.parameters.items()]
    points, sample = _sample(spec, parameters, fail)
    _check_outputs(spec, base, fail)

    for i, point in enumerate(points):
        try:
            Scenario.model_validate(apply_overrides(base_data, nest(point)))
        except ValidationError as exc:
            fail(("parameters",), f"point {i} {point} is not a valid scenario: "
                 + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()))

    sweep = Sweep(spec, path, base, dropped, parameters, points, sample, notes=notes, base_data=base_data)
    identity = {"spec": spec.model_dump(mode="json", exclude={"executor", "description"}), "base": base_data}
    sweep.fingerprint = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return sweep


def _where(path: Path, loc: tuple, lines: dict) -> str:
    dotted = ".".join(str(x) for x in loc) or "(top level)"
    line = next((lines[loc[:k]] for k in range(len(loc), 0, -1) if loc[:k] in lines), None)
    return f"{path}: {dotted}{f' (line {line})' if line else ''}: "


def _did_you_mean(key, candidates) -> str:
    match = difflib.get_close_matches(str(key), [str(c) for c in candidates], n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _spec_keys(parent: tuple, raw: dict) -> list[str]:
    """Keys allowed inside ``parent`` of a sweep spec (for did-you-mean)."""
    if not parent:
        return list(SweepSpec.model_fields)
    if parent in (("sampling",), ("executor",)):
        return list(_SPEC_MODELS[parent[0]].model_fields)
    if len(parent) == 2 and parent[0] == "parameters":
        return list(ParamSpec.model_fields)
    if len(parent) == 2 and parent[0] == "outputs":
        entry = raw["outputs"].get(parent[1])
        cls = _METRIC_CLASSES.get(entry.get("metric")) if isinstance(entry, dict) else None
        return list(cls.model_fields) if cls else []
    return []


def _format_spec_errors(path: Path, exc: ValidationError, lines: dict, raw: dict) -> str:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        if loc[:1] == ("outputs",) and len(loc) > 2 and loc[2] in _METRIC_CLASSES:
            loc = loc[:2] + loc[3:]  # drop pydantic's union tag
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _did_you_mean(loc[-1], _spec_keys(loc[:-1], raw))
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        quiet = err["type"] in ("extra_forbidden", "missing") or isinstance(got, dict | list)
        shown = "" if quiet else f"; got {got!r}"
        out.append(_where(path, loc, lines) + msg + shown)
    return "\n".join(out)


def _parameter(name: str, ps: ParamSpec, spec: SweepSpec, base_data: dict, fail, notes: list[str]) -> Parameter:
    loc = ("parameters", name)
    parts = name.split(".")
    node = base_data
    for k, part in enumerate(parts):
        if isinstance(node, list):
            fail(loc, f"{'.'.join(parts[:k])} is a list; a sweep varies values inside mappings only")
        if not isinstance(node, dict) or part not in node:
            known = list(node) if isinstance(node, dict) else []
            fail(loc, f"the base scenario has no key {'.'.join(parts[:k + 1])!r}" + _did_you_mean(part, known)
                 + (f"; keys there: {known}" if known and len(known) <= 30 else "; see `liptako params`"))
        node = node[part]
    if isinstance(node, dict | list):
        fail(loc, f"names a {'mapping' if isinstance(node, dict) else 'list'}, not a single value")
    info, _ = _walk_schema(parts)
    ann = info.annotation if info else type(node)
    kind = "int" if ann is int else "float" if ann is float else "other"
    plausible = ((info.json_schema_extra or {}) if info else {}).get("plausible_range")
    continuous = spec.sampling.method != "grid"

    bounds = None
    if ps.values is not None:
        if continuous:
            fail(loc + ("values",), f"sampling {spec.sampling.method!r} draws from a range; give range: [low, high]")
        values = tuple(ps.values)
        if kind == "int" and not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            fail(loc + ("values",), f"{name} is an integer; got {list(values)}")
        if kind == "float":
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
                fail(loc + ("values",), f"{name} is a number; got {list(values)}")
            values = tuple(float(v) for v in values)
        if len(set(values)) != len(values):
            fail(loc + ("values",), "a value is listed twice")
    else:
        if kind == "other":
            fail(loc, f"{name} is not a number ({type(node).__name__}); list its values instead of a range")
        if ps.range is not None:
            bounds = (float(ps.range[0]), float(ps.range[1]))
        else:
            if not plausible:
                fail(loc, f"{name} has no documented plausible range; give range: [low, high] or values")
            bounds = (float(plausible[0]), float(plausible[1]))
        if continuous and ps.levels is not None:
            fail(loc + ("levels",), f"levels applies to grid sampling; sampling {spec.sampling.method!r} uses n")
        values = None
    tried = values if values is not None else bounds
    if plausible and kind != "other" and (min(tried) < plausible[0] or max(tried) > plausible[1]):
        notes.append(f"{name}: values from {min(tried):g} to {max(tried):g} go beyond the documented plausible "
                     f"range [{plausible[0]:g}, {plausible[1]:g}]")
    for v in tried:
        try:
            Scenario.model_validate(apply_overrides(base_data, nest({name: v})))
        except ValidationError as exc:
            key = "values" if values is not None else "range"
            fail(loc + (key,), f"{v!r} is not allowed: " + "; ".join(e["msg"] for e in exc.errors()))
    if values is None and not continuous:
        grid = np.linspace(bounds[0], bounds[1], ps.levels or 3)
        values = tuple(dict.fromkeys(int(round(x)) if kind == "int" else float(x) for x in grid))
        bounds = None
    return Parameter(name, kind, values, bounds)


def _sample(spec: SweepSpec, parameters: list[Parameter], fail) -> tuple[list[dict], np.ndarray | None]:
    """The points (parameter values by path) and, for sobol/morris, the design matrix."""
    method = spec.sampling.method
    if not parameters:
        if method != "grid":
            fail(("sampling", "method"), f"sampling {method!r} needs parameters to vary")
        return [{}], None
    if method == "grid":
        combos = itertools.product(*(p.values for p in parameters))
        return [{p.path: v for p, v in zip(parameters, combo)} for combo in combos], None
    # Sampling draws from the master seed's own state; run seeds use its children.
    seed = int(np.random.SeedSequence(spec.seed).generate_state(1, dtype=np.uint32)[0])
    problem = {"num_vars": len(parameters), "names": [p.path for p in parameters],
               "bounds": [list(p.bounds) for p in parameters]}
    if method == "lhs":
        x = latin_hypercube(spec.sampling.n, np.array(problem["bounds"]), seed)
    else:
        from sim import sensitivity

        if method == "sobol" and len(parameters) < 2:
            fail(("parameters",), "Sobol indices need at least two parameters")
        x = sensitivity.sample(method, problem, spec.sampling.n, seed=seed, second_order=spec.sampling.second_order,
                               levels=spec.sampling.morris_levels)
    points = [{p.path: p.cast(v) for p, v in zip(parameters, row)} for row in x]
    return points, x


def latin_hypercube(n: int, bounds: np.ndarray, seed: int) -> np.ndarray:
    """``n`` points in the box ``bounds`` (d x 2): each parameter's range is cut into ``n``
    equal strata and every stratum holds exactly one point, at a uniform place inside it."""
    rng = np.random.default_rng(seed)
    d = len(bounds)
    strata = rng.permuted(np.tile(np.arange(n), (d, 1)), axis=1).T
    unit = (strata + rng.random((n, d))) / n
    return bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])


def _check_outputs(spec: SweepSpec, base: Scenario, fail) -> None:
    """Metric dates must fall inside the run; regions must exist on the grid."""
    for name, m in spec.outputs.items():
        for d in m.dates():
            if not base.start <= d <= base.end:
                fail(("outputs", name), f"date {d} lies outside the run {base.start} to {base.end}")
        if isinstance(m, ControlMetric):
            from sim.geodata import load_geodata
            from sim.world import build_world

            try:
                mask = m.mask(build_world(load_geodata(), base.resolution_deg))
            except ValueError as exc:
                fail(("outputs", name, "region"), str(exc))
            if not mask.any():
                fail(("outputs", name, "region"), f"{m.region} has no cells at {base.resolution_deg} degrees")


# ---------------------------------------------------------------------- one run


def execute(task: Task) -> dict:
    """Run one task and return its record: parameters, seeds, metrics and recorded series."""
    from sim.metrics import series
    from sim.runner import run

    scenario = Scenario.model_validate(apply_overrides(task.base, nest(task.params)))
    result = run(scenario, seed=task.seed)
    record = {
        "run_id": task.run_id,
        "point": task.point,
        "replicate": task.replicate,
        "seed": task.seed,
        "run_seed": result.run_seed,
        "params": task.params,
        "metrics": {name: float(m.compute(result)) for name, m in task.outputs.items()},
        "wall_time_s": round(result.wall_time_s, 3),
    }
    if task.series:
        out = {}
        for s in task.series:
            actor, _, column = s.rpartition(".")
            dates, values = series(result.history, actor, column)
            out[s] = values
        record["series"] = {"dates": [d.isoformat() for d in dates], "values": out}
    return record


# ---------------------------------------------------------------------- the results folder


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so the file is complete or absent, and durable once this returns."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)  # make the rename itself durable
    finally:
        os.close(fd)


class SweepFolder:
    """A sweep's results folder: manifest, plan, one file per finished run, the merged table."""

    def __init__(self, root: Path, sweep: Sweep):
        self.root = Path(root)
        self.sweep = sweep
        self.runs = self.root / "runs"

    def open(self) -> dict[str, dict]:
        """Create or check the folder and return the valid finished runs by run id."""
        manifest = self.root / "manifest.json"
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ScenarioError(f"{manifest}: unreadable manifest ({exc}); "
                                    "remove the folder or choose another --out") from None
            if old.get("fingerprint") != self.sweep.fingerprint:
                raise ScenarioError(
                    f"{self.root} holds results of a different sweep (its spec or base scenario changed since); "
                    "choose another --out or remove the folder")
            self.manifest = old
        else:
            if self.root.exists() and not self.root.is_dir():
                raise ScenarioError(f"{self.root} is a file; --out needs a folder")
            if self.root.is_dir() and any(self.root.iterdir()):
                raise ScenarioError(f"{self.root} exists and is not a sweep folder (no manifest.json); "
                                    "choose a new or empty folder with --out")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ScenarioError(f"cannot create the sweep folder {self.root}: {exc.strerror}") from None
            self.manifest = self._new_manifest()
            write_atomic(manifest, json.dumps(self.manifest, indent=2))
        # Rewritten every time: deterministic, and a kill may have come before they were written.
        write_atomic(self.root / "base_scenario.yaml", scenario_to_yaml(self.sweep.base))
        write_atomic(self.root / "plan.csv", self._plan_csv())
        self.runs.mkdir(exist_ok=True)
        return self._scan()

    def _new_manifest(self) -> dict:
        import mesa

        s = self.sweep
        return {
            "sweep": s.spec.name,
            "spec_file": str(s.path.resolve()),
            "fingerprint": s.fingerprint,
            "spec": s.spec.model_dump(mode="json"),
            "base_scenario": str((s.path.parent / s.spec.scenario).resolve()),
            "dropped_events": s.dropped_events,
            "points": len(s.points),
            "replicates": s.spec.replicates,
            "runs": s.n_runs,
            "seeds": "run (point i, replicate k) uses SeedSequence(seed, spawn_key=(i, k)) >> 1 as its --seed"
                     + ("; common random numbers: i = 0 for every point" if s.spec.common_random_numbers else ""),
            "package": "liptako",
            "version": __version__,
            "git_commit": _git_commit(),
            "code_fingerprint": code_fingerprint(),
            "python": platform.python_version(),
            "mesa": mesa.__version__,
            "numpy": np.__version__,
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "sessions": [],
        }

    def _plan_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        names = [p.path for p in self.sweep.parameters]
        w.writerow(["point", *names])
        for i, point in enumerate(self.sweep.points):
            w.writerow([i, *(point[n] for n in names)])
        return buf.getvalue()

    def _scan(self) -> dict[str, dict]:
        """Finished runs whose files match the plan; stray temporaries and mismatches are removed."""
        expected = {t.run_id: t for t in self.sweep.tasks()}
        done = {}
        for f in self.runs.iterdir():
            if f.name.startswith("."):
                f.unlink()  # a temporary left by a killed sweep
                continue
            rec = None
            try:
                rec = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                pass
            task = expected.get(f.stem)
            if rec is None or task is None or not _matches(rec, task):
                print(f"note: {f} does not match the plan; it will be rerun", file=sys.stderr)
                f.unlink()
                continue
            done[task.run_id] = rec
        return done

    def save(self, record: dict) -> None:
        write_atomic(self.runs / f"{record['run_id']}.json", json.dumps(record))

    def log_error(self, task: Task, text: str) -> None:
        with open(self.root / "errors.log", "a", encoding="utf-8") as fh:
            fh.write(f"--- {task.run_id} (seed {task.seed}, {task.params})\n{text}\n")

    def write_manifest(self, session: dict) -> None:
        self.manifest["sessions"].append(session)
        write_atomic(self.root / "manifest.json", json.dumps(self.manifest, indent=2))

    def write_table(self, records: dict[str, dict]) -> Path:
        """``results.csv``: one row per finished run, in plan order."""
        names = [p.path for p in self.sweep.parameters]
        metrics = list(self.sweep.spec.outputs)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([*FIXED_COLUMNS, *names, *metrics, "wall_time_s"])
        for rec in sorted(records.values(), key=lambda r: (r["point"], r["replicate"])):
            w.writerow([*(rec[c] for c in FIXED_COLUMNS), *(rec["params"][n] for n in names),
                        *(rec["metrics"][m] for m in metrics), rec["wall_time_s"]])
        path = self.root / "results.csv"
        write_atomic(path, buf.getvalue())
        return path


def _matches(rec: dict, task: Task) -> bool:
    try:
        return (rec["run_id"] == task.run_id and rec["point"] == task.point and rec["replicate"] == task.replicate
                and rec["seed"] == task.seed and rec["params"] == task.params
                and set(rec["metrics"]) == set(task.outputs)
                and all(isinstance(v, int | float) for v in rec["metrics"].values())
                and (not task.series or set(rec["series"]["values"]) == set(task.series)))
    except (KeyError, TypeError):
        return False


def read_records(root: Path) -> dict[str, dict]:
    """The finished run records of a sweep folder, by run id."""
    out = {}
    for f in sorted((Path(root) / "runs").glob("*.json")):
        rec = json.loads(f.read_text(encoding="utf-8"))
        out[rec["run_id"]] = rec
    return out


def code_fingerprint() -> str:
    """A hash of the model's source files on disk: what a worker process started now would import."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


# A long-lived worker keeps the code it imported even if the files change afterwards.
_IMPORTED_CODE = code_fingerprint()


def worker_state() -> dict:
    """What the driver asks of each Dask worker: the code it imported and its malloc trim setting."""
    return {"code": _IMPORTED_CODE, "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


@functools.lru_cache(maxsize=1)
def _git_commit() -> str:
    """The commit of this invocation (asked once: git is slow on a big tree)."""
    from sim.runner import git_commit

    return git_commit()


# ---------------------------------------------------------------------- executors


PARENT_POLL_S = 1.0  # how often a worker checks that the process that started it is still alive


def _init_worker(parent_pid: int) -> None:
    # Ctrl-C goes to the whole process group; only the parent should react to it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True, name="parent-watch").start()


def _exit_with_parent(parent_pid: int) -> None:
    """End this worker once ``parent_pid`` is gone, even mid-run: a killed parent must not leave
    workers running a long calibration for nobody (they are the forkserver's children, not its)."""
    while True:
        time.sleep(PARENT_POLL_S)
        try:
            os.kill(parent_pid, 0)
        except (ProcessLookupError, PermissionError):  # gone, or its pid now another user's process
            os._exit(1)


class _Local:
    """A process pool of ``workers`` processes that end with the process that started them."""

    def __init__(self, workers: int):
        import multiprocessing as mp

        if "forkserver" in mp.get_all_start_methods():
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["sim.runner"])  # import the model once, not in every worker
        else:
            ctx = mp.get_context("spawn")
        self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                        initargs=(os.getpid(),))
        self.workers = workers
        self.label = f"local, {workers} worker process{'es' if workers > 1 else ''}"

    def submit(self, task: Task):
        return self.pool.submit(execute, task)

    @staticmethod
    def wait(futures):
        return futures_wait(futures, return_when=FIRST_COMPLETED)

    def close(self, cancel: bool = False) -> None:
        self.pool.shutdown(wait=True, cancel_futures=cancel)


class _Dask:
    """A dask.distributed client on ``address``; workers need liptako installed (see README)."""

    def __init__(self, address: str, prefix: str):
        try:
            from distributed import Client
        except ImportError:
            raise ScenarioError("the Dask executor needs dask.distributed: pip install 'liptako[cluster]'") from None
        try:
            self.client = Client(address)  # waits distributed.comm.timeouts.connect (dask config) at most
        except (OSError, TimeoutError, ValueError) as exc:
            raise ScenarioError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None
        try:
            theirs = self.client.run(worker_state)
        except Exception as exc:  # noqa: BLE001 - whatever a worker raises, it cannot run liptako
            self.client.close()
            raise ScenarioError(f"the Dask workers at {address} cannot run liptako ({type(exc).__name__}: {exc}); "
                                "install it on every worker (see README, Sweeps on a Dask cluster)") from None
        ours = code_fingerprint()
        stale = sorted(w for w, st in theirs.items() if st["code"] != ours)
        if stale:
            self.client.close()
            raise ScenarioError(f"Dask worker(s) {stale} run different liptako code from this machine; "
                                "install the same version on every worker")
        trimmed = sorted({st["malloc_trim"] for st in theirs.values()} - {None})
        if trimmed:
            # Any value switches off glibc's adaptive mmap threshold: large arrays are then mapped and
            # unmapped at every allocation, which makes a run about 1.5 times slower.
            print(f"note: Dask workers run with MALLOC_TRIM_THRESHOLD_={trimmed[0]} (the Dask nanny's default), "
                  "which slows liptako runs about 1.5x; see README, Sweeps on a Dask cluster", file=sys.stderr)
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        n = len(info)
        self.workers = max(sum(w.get("nthreads", 1) for w in info.values()), 1)  # runs it can take at once
        self.prefix = prefix
        self.label = f"dask {address}, {n} worker{'s' if n != 1 else ''}"

    def submit(self, task: Task):
        return self.client.submit(execute, task, key=f"liptako-{self.prefix}-{task.run_id}", pure=False)

    @staticmethod
    def wait(futures):
        from distributed import wait

        return wait(list(futures), return_when="FIRST_COMPLETED")

    def close(self, cancel: bool = False) -> None:
        self.client.close()


@dataclass
class Report:
    """What one invocation of a sweep did."""

    total: int
    skipped: int
    finished: int
    failed: int
    interrupted: bool
    worker_died: bool
    seconds: float
    executor: str
    folder: Path


def default_folder(sweep: Sweep) -> Path:
    return Path("results") / "sweeps" / sweep.spec.name


def run_sweep(sweep: Sweep, out: Path | None = None, *, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> Report:
    """Run the sweep's missing runs and rebuild its table; resumable and safe to kill at any moment."""
    from tqdm import tqdm

    folder = SweepFolder(out or default_folder(sweep), sweep)
    ex = sweep.spec.executor
    address = scheduler or (ex.scheduler if ex.kind == "dask" else None)
    if ex.kind == "dask" and not address:
        raise ScenarioError(f"{sweep.path}: executor: kind dask needs a scheduler address (or --scheduler ADDRESS)")
    done = folder.open()
    todo = [t for t in sweep.tasks() if t.run_id not in done]
    first, now = folder.manifest.get("code_fingerprint"), code_fingerprint()
    if todo and done and first != now:
        print(f"note: the model code changed since this sweep's first runs (fingerprint {first}, now {now}, "
              f"commit {_git_commit()}); the table will mix both", file=sys.stderr)
    started = dt.datetime.now().isoformat(timespec="seconds")
    t0 = time.perf_counter()
    finished = failed = 0
    interrupted = broken = False
    label = "nothing to run"
    if todo:
        if address:
            pool = _Dask(address, sweep.fingerprint[:8])
        else:
            pool = _Local(min(workers or ex.workers or os.cpu_count() or 1, len(todo)))
        label = pool.label
        bar = tqdm(total=sweep.n_runs, initial=len(done), unit="run", desc=sweep.spec.name, disable=not progress,
                   dynamic_ncols=True, smoothing=0.05)
        queue = iter(todo)
        inflight: dict = {}
        window = 2 * pool.workers  # bounded, so memory stays flat and Ctrl-C has little to cancel

        def collect(futures):
            nonlocal finished, failed, broken
            for fut in futures:
                task = inflight.pop(fut)
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is None:
                    rec = fut.result()
                    folder.save(rec)
                    done[task.run_id] = rec
                    finished += 1
                    bar.update(1)
                elif isinstance(exc, BrokenProcessPool):
                    broken = True  # the run did not fail: its worker was killed; rerunning resumes it
                else:
                    failed += 1
                    folder.log_error(task, "".join(traceback.format_exception(exc)))
                    bar.write(f"run {task.run_id} failed: {type(exc).__name__}: {exc} (see errors.log)")
                    bar.update(1)

        try:
            while True:
                if not broken:
                    try:
                        for task in itertools.islice(queue, window - len(inflight)):
                            inflight[pool.submit(task)] = task
                    except BrokenProcessPool:
                        broken = True
                if not inflight:
                    break
                finished_now, _ = pool.wait(inflight)
                collect(finished_now)
            pool.close()
        except KeyboardInterrupt:
            interrupted = True
            bar.write("interrupted: finishing the runs in progress (Ctrl-C again to abandon them)")
            for fut in inflight:
                fut.cancel()
            try:
                pool.close(cancel=True)
                collect([f for f in list(inflight) if f.done()])
            except KeyboardInterrupt:
                pass
        bar.close()
    seconds = time.perf_counter() - t0
    folder.write_table(done)
    folder.write_manifest({"started": started, "executor": label, "git_commit": _git_commit(),
                           "code_fingerprint": now,
                           "version": __version__, "skipped": sweep.n_runs - len(todo),
                           "finished": finished, "failed": failed, "interrupted": interrupted, "worker_died": broken,
                           "seconds": round(seconds, 2)})
    return Report(sweep.n_runs, sweep.n_runs - len(todo), finished, failed, interrupted, broken, seconds, label,
                  folder.root)
