"""Fitting the uncertain parameters to the calibration targets: a space-filling screen, then ABC-SMC.

``liptako calibrate`` (:mod:`sim.commands.calibrate`) runs three stages on a base
scenario, the priors of ``calibration/priors.yaml`` and the fitting targets of
``calibration/targets.yaml``:

1. **Screen**: a Latin hypercube (``scipy.stats.qmc``) of ``N`` points over the
   priors (in each prior's own scale: log10 for log-uniform priors), ``k`` seeds
   per point; every run is scored against the fitting targets. The screen shows
   which targets the model meets anywhere in the prior box and which it cannot
   meet together (:mod:`sim.calibration_report`), and sets ABC's first tolerance.
2. **ABC-SMC** with pyabc (Del Moral, Doucet & Jasra 2012; Klinger, Rickert &
   Hasenauer 2018): one run per particle, the same distance, tolerances at the
   median of the previous generation's distances, a truncated normal
   perturbation kernel inside the prior box (:func:`box_transition`), on the
   local cores through :class:`SeededMapSampler`.
3. **Fitted set**: the weighted median of each parameter's marginal in the last
   generation, written to ``calibrated.yaml`` with its provenance, and an
   ensemble of runs at it (fit and held-out targets, time series) for the report.

**The distance** of a run to the targets: for each applicable fitting target
with value ``v`` and accepted interval ``[lo, hi]`` (one end may be open),
``fail`` is 1 if ``v`` lies outside and ``miss = min(1, gap / scale)`` with
``gap`` the distance from ``v`` to the violated end and ``scale`` = max(|that
end|, 1) (peak years: 1, so a year off is a full miss). The run's distance is
the mean over targets of ``fail + miss``: 0 when every target passes, between
``f/n`` and ``2f/n`` when ``f`` of ``n`` fail, so the number of failed targets
dominates and the size of each miss orders runs that fail as many. A target
whose dates lie after the run's end is not applicable and left out.

**Seeds**: everything derives from one master seed with numpy's
``SeedSequence``: screen run (point i, seed k) uses ``spawn_key=(0, i, k)``,
ABC map task j of sampler call g uses ``(1, g, j)`` (the task seeds numpy's global
generator, from which pyabc draws proposals and this module the run seed),
ensemble run k uses ``(2, k)``, the Latin hypercube ``(3,)`` and pyabc's
driver ``(4,)``. The same master seed, inputs and code give the same
``calibrated.yaml`` whatever the number of workers.

**Storage** (the working folder, ``--work``): ``manifest.json`` (the settings),
``screen/`` and ``ensemble/`` (one JSON file per finished run, written
atomically, so an interrupted calibration resumes those stages), ``abc.db``
(pyabc's SQLite history, from which an interrupted ABC-SMC continues; see
:func:`run_abc`), ``abc.json`` (its settings and whether it finished), ``screen.csv``, ``posterior.csv`` (every
generation's particles, weights and distances) and ``abc_generations.csv``;
the report is rebuilt from these files alone.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from sim.params import Frozen, Scenario, _misfit
from sim.scenario_io import ScenarioError, format_errors

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PRIORS = ROOT / "calibration" / "priors.yaml"
DEFAULT_TARGETS = ROOT / "calibration" / "targets.yaml"
DEFAULT_SCENARIO = ROOT / "scenarios" / "baseline.yaml"
# monthly series kept from each ensemble run for the posterior-predictive figure
ENSEMBLE_SERIES = ("clashes.JNIM-ISGS", "clash_fatalities.JNIM-ISGS", "JNIM.area_km2", "ISGS.area_km2")
MAX_TRIES = 20  # ABC budget: proposals per accepted particle on average (modelling choice, 10-50)
# one particle's own cap, in multiples of the budget per particle: at the budget's acceptance rate (1 in MAX_TRIES) a
# particle needs more than 3 x MAX_TRIES proposals 5% of the time; at 1 in 4 (round 34's second generation), 3 in
# 100 million (with a cap of MAX_TRIES itself, 3 in 1,000: one of 60 particles missed it and lost that generation)
TASK_CAP_FACTOR = 3
PASS_BAR = 0.6  # issue 3: every fitting target met in at least 60% of the fitted ensemble's runs
MEDIAN_STATISTIC = "weighted median of each parameter's marginal in the last ABC-SMC generation"
STAGES = {"screen": 0, "abc": 1, "ensemble": 2, "lhs": 3, "driver": 4, "select": 5}  # SeedSequence spawn_key heads


# ---------------------------------------------------------------------- parameter paths


def plausible(path: str) -> tuple[str, float, float] | None:
    """(``int`` or ``float``, low, high) of a scenario parameter with a documented plausible range;
    None if the path names no such parameter."""
    from sim.sweep import _walk_schema

    info, cls = _walk_schema(path.split("."))
    if info is None or cls is not None:
        return None
    rng = (info.json_schema_extra or {}).get("plausible_range") if isinstance(info.json_schema_extra, dict) else None
    if not rng or info.annotation not in (int, float):
        return None
    return ("int" if info.annotation is int else "float"), float(rng[0]), float(rng[1])


def known_paths() -> list[str]:
    """Every parameter path with a plausible range (for did-you-mean); strategies under factions.<actor>."""
    from sim.cli import parameter_table
    from sim.params import Strategy

    paths = [row[0] for row in parameter_table() if row[2]]
    return paths + [f"factions.JNIM.strategy.{k}" for k in Strategy.model_fields] \
        + [f"factions.ISGS.strategy.{k}" for k in Strategy.model_fields]


def _check_path(key: str) -> tuple[str, float, float]:
    found = plausible(key)
    if found is None:
        import difflib

        match = difflib.get_close_matches(key, known_paths(), n=1, cutoff=0.7)
        raise _misfit(f"{key!r} is not a scenario parameter with a documented plausible range"
                      + (f" (did you mean {match[0]!r}?)" if match else "") + "; see `liptako params`", (key,))
    return found


# ---------------------------------------------------------------------- priors


class Prior(Frozen):
    """One fitted parameter: its prior shape, its range (default: the plausible range) and why."""

    prior: Literal["uniform", "log-uniform"]
    range: tuple[float, float] | None = Field(None, description="[low, high] inside the plausible range")
    reason: str = Field(min_length=10, description="why this parameter is fitted, and why this range")

    @model_validator(mode="after")
    def _ordered(self):
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError(f"range {list(self.range)} must be [low, high] with low < high")
        return self


class PriorFile(Frozen):
    description: str = ""
    parameters: dict[str, Prior] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _inside(cls, v):
        for key, p in v.items():
            kind, lo, hi = _check_path(key)
            low, high = p.range or (lo, hi)
            if kind == "int" and not (float(low).is_integer() and float(high).is_integer()):
                raise _misfit(f"{key} is an integer setting; expected whole-number bounds, got [{low:g}, {high:g}]",
                              (key, "range"))
            if low < lo or high > hi:
                raise _misfit(f"range [{low:g}, {high:g}] goes beyond the documented plausible range "
                              f"[{lo:g}, {hi:g}]; expected a range inside it", (key, "range"))
            if p.prior == "log-uniform" and low <= 0:
                raise _misfit(f"a log-uniform prior needs a positive lower bound, got {low:g}; give range: "
                              "[low, high] with low > 0 or use prior: uniform", (key, "range" if p.range else "prior"))
        return v


@dataclass(frozen=True)
class Dim:
    """A fitted parameter as the samplers see it: uniform on [lo, hi] in its own scale (log10 if ``log``).
    An integer setting (``integer``) is sampled on [low - 0.5, high + 0.5] and rounded, so each whole value
    in its range gets an equal share of a uniform prior."""

    path: str
    low: float
    high: float
    log: bool
    integer: bool = False

    @property
    def lo(self) -> float:
        low = self.low - 0.5 if self.integer else self.low
        return math.log10(low) if self.log else low

    @property
    def hi(self) -> float:
        high = self.high + 0.5 if self.integer else self.high
        return math.log10(high) if self.log else high

    def natural(self, u: float) -> float | int:
        """A value in the prior's scale as a parameter value."""
        return self.value(min(max(10.0 ** u if self.log else u, self.low), self.high))

    def value(self, x: float) -> float | int:
        """``x`` as the parameter takes it: rounded for an integer setting, else to 6 significant digits."""
        return int(round(x)) if self.integer else float(f"{x:.6g}")


def load_priors(path) -> tuple[PriorFile, list[Dim]]:
    """Read and validate a priors file; :class:`ScenarioError` names the file, key path and line."""
    from sim.scenario_io import _line_map, read_yaml

    path = Path(path)
    data, text = read_yaml(path)
    try:
        pf = PriorFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_errors(path, exc, _line_map(text), PriorFile)) from None
    dims = []
    for key, p in pf.parameters.items():
        kind, lo, hi = plausible(key)
        low, high = p.range or (lo, hi)
        dims.append(Dim(key, float(low), float(high), p.prior == "log-uniform", kind == "int"))
    return pf, dims


# ---------------------------------------------------------------------- the calibrated file


class CalibratedFile(Frozen):
    """``calibration/calibrated.yaml``: the fitted values and where they came from."""

    description: str = ""
    created: str = ""
    git_commit: str = ""
    master_seed: int | None = None
    scenario: str = ""
    statistic: str = ""
    horizon: str = ""
    runs: dict[str, int] = Field(default_factory=dict)
    distance: dict[str, float] = Field(default_factory=dict)
    parameters: dict[str, int | float] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _values(cls, v):
        for key, x in v.items():
            _, lo, hi = _check_path(key)
            if not lo <= x <= hi:
                raise _misfit(f"{x:g} lies outside the documented plausible range [{lo:g}, {hi:g}]", (key,))
        return v


def load_calibrated(path) -> tuple[CalibratedFile, dict, str]:
    """The calibrated file, the line of each key path, and the SHA-256 of its bytes."""
    from sim.scenario_io import _line_map, read_yaml

    path = Path(path)
    data, text = read_yaml(path)
    lines = _line_map(text)
    try:
        calib = CalibratedFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_errors(path, exc, lines, CalibratedFile)) from None
    return calib, lines, hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------- the distance


def miss(target, value: float) -> float:
    """How far ``value`` lies outside the target's accepted interval, normalised and capped at 1."""
    acc = target.accept
    if not math.isfinite(value):
        return 1.0
    if acc.min is not None and value < acc.min:
        bound, gap = acc.min, acc.min - value
    elif acc.max is not None and value > acc.max:
        bound, gap = acc.max, value - acc.max
    else:
        return 0.0
    scale = 1.0 if getattr(target.metric, "metric", "") == "peak_year" else max(abs(bound), 1.0)
    return min(1.0, gap / scale)


def distance(targets, values: dict) -> float:
    """The run's distance to the targets (module docstring): mean of fail + miss over applicable targets.

    Args:
        targets: :class:`sim.targets.Target` objects (the fitting ones).
        values: target id -> value, None where not applicable.
    """
    parts = []
    for t in targets:
        v = values.get(t.id)
        if v is None:
            continue
        v = float(v)
        passed = math.isfinite(v) and t.accept.passes(v)
        parts.append((0.0 if passed else 1.0) + miss(t, v))
    if not parts:
        raise ValueError("no target applies to this run (is the horizon before every target's dates?)")
    return sum(parts) / len(parts)


# ---------------------------------------------------------------------- one run


@dataclass(frozen=True)
class Task:
    """One run: the base scenario as data, the parameter values, the seed, what to compute."""

    base: dict
    params: dict
    seed: int
    targets: tuple
    fit_ids: tuple[str, ...]
    series: bool = False
    geo: object = None  # a non-default geography (the tests' toy world); None: seeds/


def evaluate(task: Task) -> dict:
    """Run ``task`` and return its record: parameters, seed, target values, distance, optional series."""
    from sim.runner import run
    from sim.sweep import apply_overrides, nest
    from sim.targets import NotApplicable, compute

    scenario = Scenario.model_validate(apply_overrides(task.base, nest(task.params)))
    result = run(scenario, task.geo, seed=task.seed)
    values = {}
    for t in task.targets:
        try:
            values[t.id] = compute(t.metric, result)
        except NotApplicable:
            values[t.id] = None
    record = {"params": task.params, "seed": task.seed, "values": values,
              "distance": distance([t for t in task.targets if t.id in task.fit_ids], values),
              "wall_time_s": round(result.wall_time_s, 3)}
    if task.series:
        record["series"] = monthly_series(result)
    return record


def monthly_series(result) -> dict:
    """:data:`ENSEMBLE_SERIES` per month (dated the 15th): event counts, and areas at each month's last record."""
    from sim.runview import _record

    rec = _record(result, [n for n in ENSEMBLE_SERIES if not n.partition(".")[0] in ("JNIM", "ISGS")])["series"]
    months = [d[:7] for d in rec["dates"]]
    for name in ENSEMBLE_SERIES:
        actor, _, column = name.partition(".")
        if actor not in ("JNIM", "ISGS"):
            continue
        last: dict[str, float] = {}
        for row in result.history:
            if row["actor"] == actor:
                last[str(row["date"])[:7]] = float(row[column])
        held, out = 0.0, []
        for m in months:
            held = last.get(m, held)
            out.append(held)
        rec["values"][name] = out
    return rec


def seed_of(master: int, *key: int) -> int:
    """The 63-bit seed of ``SeedSequence(master, spawn_key=key)`` (as a sweep derives its run seeds)."""
    state = np.random.SeedSequence(master, spawn_key=tuple(key)).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


class Mapper:
    """``map`` on ``workers`` local processes (the sweep's forkserver pool), or in this process for 1."""

    def __init__(self, workers: int):
        self.workers = max(1, int(workers))
        self._local = None
        if self.workers > 1:
            from sim.sweep import _Local

            self._local = _Local(self.workers)

    def __call__(self, fn, items):
        return list(self.imap(fn, items))

    def imap(self, fn, items):
        """The results of ``fn`` on ``items`` in order, each as soon as it and those before it are done."""
        items = list(items)
        if self._local is None or len(items) <= 1:
            return map(fn, items)
        return self._local.pool.map(fn, items)

    def close(self) -> None:
        """Shut the workers down; runs still queued (after an interrupt) are dropped, not waited for."""
        if self._local is not None:
            self._local.close(cancel=True)


# ---------------------------------------------------------------------- the calibration


@dataclass
class Calibration:
    """The validated inputs of a calibration and where its files go."""

    scenario_path: Path
    base: dict  # the base scenario as data, ending at the fitting horizon
    base_full: dict  # ending at the report horizon (held-out targets)
    dims: list[Dim]
    targets: list  # all targets
    fit: list  # the fitting targets applicable before the fitting horizon
    master_seed: int
    work: Path
    priors_path: Path
    targets_path: Path
    priors: PriorFile  # as read at the start: the report does not reread a file edited meanwhile
    geo: object = None
    settings: dict = field(default_factory=dict)

    @property
    def fit_ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.fit)

    def task(self, params: dict, seed: int, *, full: bool = False) -> Task:
        return Task(self.base_full if full else self.base, params, seed, tuple(self.targets), self.fit_ids,
                    series=full, geo=self.geo)

    def params_of(self, u) -> dict:
        """Parameter values (natural scale) of a point in the priors' scales."""
        return {d.path: d.natural(float(x)) for d, x in zip(self.dims, u)}


def _base_data(path: Path, end: dt.date | None) -> dict:
    from sim.scenario_io import load_scenario, resolve
    from sim.sweep import apply_overrides, drop_events_outside

    scenario = load_scenario(path)  # errors name the scenario file
    data = resolve(path)
    if end is not None and end < scenario.end:
        if end <= scenario.start:
            raise ScenarioError(f"--horizon {end}: expected a date after the scenario's start {scenario.start}")
        data, _ = drop_events_outside(apply_overrides(data, {"end": end.isoformat()}))
    data.pop("calibrated_from", None)  # every fitted value is set afresh
    return Scenario.model_validate(data).model_dump(mode="json")


def prepare(scenario_path, priors_path=DEFAULT_PRIORS, targets_path=DEFAULT_TARGETS, *, master_seed=None,
            horizon: dt.date | None = None, work=None, geo=None, settings: dict | None = None) -> Calibration:
    """Validate the inputs: scenario, priors (each path present in the scenario), targets, horizon."""
    from sim.scenario_io import load_scenario
    from sim.targets import load_targets

    scenario_path, priors_path, targets_path = Path(scenario_path), Path(priors_path), Path(targets_path)
    scenario = load_scenario(scenario_path)
    prior_file, dims = load_priors(priors_path)
    tf = load_targets(targets_path)
    end = min(horizon or scenario.end, scenario.end)
    fit_end = min(end, tf.fit_until)
    base = _base_data(scenario_path, fit_end)
    base_full = _base_data(scenario_path, end)
    for d in dims:
        node = base
        for part in d.path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ScenarioError(f"{priors_path}: parameters.{d.path}: the scenario {scenario_path} has no key "
                                    f"{part!r} there; expected a parameter the scenario has")
            node = node[part]
    fit = [t for t in tf.select("fit") if max(t.metric.dates()) <= fit_end]
    if not fit:
        raise ScenarioError(f"--horizon {end}: no fitting target of {targets_path} ends by {fit_end}; "
                            "expected a horizon after the first target's last date")
    master = scenario.seed if master_seed is None else int(master_seed)
    work = Path(work) if work is not None else default_work(scenario.name)
    settings = {"priors": portable(priors_path), "targets": portable(targets_path),
                "horizon": horizon.isoformat() if horizon else None, **(settings or {})}
    return Calibration(scenario_path, base, base_full, dims, list(tf.targets), fit, master, work, priors_path,
                       targets_path, prior_file, geo, settings)


def portable(path) -> str:
    """``path`` relative to the repository when inside it, so that a working folder can be reopened from
    another checkout; otherwise absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _in_repo(path: str) -> Path:
    return ROOT / path  # an absolute path stays as it is


def default_work(scenario_name: str) -> Path:
    return ROOT / "results" / "calibration" / scenario_name


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def identity(cal: Calibration) -> dict:
    """What makes two calibrations the same (a working folder holds one). The fitted parameters' values in the
    scenario do not count: every run sets them, and shipping a fit changes them in the baseline."""
    from sim.sweep import apply_overrides, nest

    base = apply_overrides(cal.base_full, nest(dict.fromkeys(d.path for d in cal.dims)))
    return {"scenario": portable(cal.scenario_path), "base": hashlib.sha256(
        json.dumps(base, sort_keys=True).encode()).hexdigest(), "priors": _sha(cal.priors_path),
        "targets": _sha(cal.targets_path), "master_seed": cal.master_seed,
        **{k: cal.settings[k] for k in ("screen", "seeds_per_point") if k in cal.settings}}


def open_work(cal: Calibration) -> dict:
    """Create or check the working folder; a folder of another calibration is refused."""
    from sim.sweep import code_fingerprint, write_atomic

    ident = identity(cal)
    manifest_path = cal.work / "manifest.json"
    if manifest_path.exists():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"{manifest_path}: unreadable ({exc}); remove the folder or choose another --work") \
                from None
        if old.get("identity") != ident:
            raise ScenarioError(f"{cal.work} holds another calibration (scenario, priors, targets, master seed or "
                                "screen size differ); choose another --work or remove the folder")
    elif cal.work.exists() and any(cal.work.iterdir()):
        raise ScenarioError(f"{cal.work} exists and is not a calibration folder (no manifest.json); "
                            "choose a new or empty folder with --work")
    cal.work.mkdir(parents=True, exist_ok=True)
    manifest = {"identity": ident, "settings": cal.settings, "code_fingerprint": code_fingerprint(),
                "dims": [vars(d) for d in cal.dims], "fit_targets": list(cal.fit_ids),
                "fit_end": cal.base["end"], "end": cal.base_full["end"]}
    write_atomic(manifest_path, json.dumps(manifest, indent=2))
    return manifest


def _run_all(cal: Calibration, folder: Path, tasks: dict[str, Task], mapper: Mapper, progress: bool) -> dict:
    """Run the tasks not yet saved in ``folder`` (one JSON file each, atomic) and return every record."""
    from sim.sweep import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    done = {}
    for name, task in tasks.items():
        f = folder / f"{name}.json"
        if f.is_file():
            rec = json.loads(f.read_text(encoding="utf-8"))
            if rec.get("params") == task.params and rec.get("seed") == task.seed:
                done[name] = rec
    todo = [n for n in tasks if n not in done]
    batch = max(1, 2 * mapper.workers)  # saved batch by batch, so an interrupted stage keeps its runs
    for k in range(0, len(todo), batch):
        names = todo[k:k + batch]
        for name, rec in zip(names, mapper(evaluate, [tasks[n] for n in names])):
            write_atomic(folder / f"{name}.json", json.dumps(rec))
            done[name] = rec
        if progress:
            print(f"  {folder.name}: {len(done)}/{len(tasks)} runs", flush=True)
    return {n: done[n] for n in tasks}


def screen(cal: Calibration, n: int, k: int, mapper: Mapper, progress: bool = True) -> list[dict]:
    """The Latin hypercube screen: ``n`` points x ``k`` seeds; records carry ``point`` and ``replicate``."""
    from scipy.stats import qmc

    lhs = qmc.LatinHypercube(d=len(cal.dims), rng=np.random.default_rng(seed_of(cal.master_seed, STAGES["lhs"])))
    unit = lhs.random(n)
    lo = np.array([d.lo for d in cal.dims])
    hi = np.array([d.hi for d in cal.dims])
    points = lo + unit * (hi - lo)
    tasks = {f"p{i}_r{r}": cal.task(cal.params_of(points[i]), seed_of(cal.master_seed, STAGES["screen"], i, r))
             for i in range(n) for r in range(k)}
    records = _run_all(cal, cal.work / "screen", tasks, mapper, progress)
    out = []
    for name, rec in records.items():
        i, r = (int(x[1:]) for x in name.split("_"))
        out.append({**rec, "point": i, "replicate": r})
    write_table(cal.work / "screen.csv", out, cal)
    return out


def write_table(path: Path, records: list[dict], cal: Calibration) -> None:
    """One row per run: point, replicate, seed, parameters, distance, each target's value."""
    from sim.sweep import write_atomic

    names = [d.path for d in cal.dims]
    ids = [t.id for t in cal.targets]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["point", "replicate", "seed", *names, "distance", *ids])
    for rec in sorted(records, key=lambda r: (r.get("point", 0), r.get("replicate", 0))):
        vals = rec["values"]
        w.writerow([rec.get("point", 0), rec.get("replicate", 0), rec["seed"], *(rec["params"][n] for n in names),
                    rec["distance"], *("" if vals.get(i) is None else vals[i] for i in ids)])
    write_atomic(path, buf.getvalue())


# ---------------------------------------------------------------------- ABC-SMC with pyabc


def _until_accepted(payload: bytes, cap: float, seed: int):
    """One map task: seed numpy's and Python's global generators, simulate until a particle is accepted
    (or ``cap`` simulations)."""
    import cloudpickle

    from pyabc.population import Sample

    simulate_one = cloudpickle.loads(payload)
    np.random.seed(seed % 2**32)
    random.seed(seed)
    sample, n = Sample(), 0
    while n < cap:
        particle = simulate_one()
        n += 1
        sample.append(particle)
        if particle.accepted:
            break
    return sample, n


def seeded_map_sampler(mapper: Mapper, master: int, progress: bool = False):
    """A pyabc sampler whose results depend only on the master seed (not on workers or timing).

    pyabc's own parallel samplers reseed each worker from the operating system
    (``MappingSampler.map_function`` calls ``np.random.seed()``), so their results
    cannot be reproduced. Here map task j of the g-th call takes the seed
    ``SeedSequence(master, spawn_key=(1, g, j))`` and the tasks' samples are
    concatenated in task order. Each task samples until one particle is accepted,
    as in pyabc's ``MappingSampler``, or until its cap of ``TASK_CAP_FACTOR`` x ``max_eval / n`` proposals.
    A generation fails (pyabc then stops and keeps the generations before it) when a particle was not found
    within its cap or the generation took more than pyabc's ``max_eval`` runs in all: an acceptance rate under 1
    in MAX_TRIES. The sampler keeps the failed generation's figures in ``failed`` (t, runs, accepted) and says so.
    With ``progress`` a generation prints a line at every tenth of its particles.
    """
    import functools

    import cloudpickle
    from pyabc.sampler import Sampler

    class SeededMapSampler(Sampler):
        def __init__(self):
            super().__init__()
            self.calls = 0
            self.failed = None

        def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False,
                                    ana_vars=None):
            call, self.calls = self.calls, self.calls + 1
            cap = TASK_CAP_FACTOR * math.ceil(max_eval / n) if math.isfinite(max_eval) else math.inf
            fn = functools.partial(_until_accepted, cloudpickle.dumps(simulate_one), cap)
            results, t0 = [], time.perf_counter()
            for res in mapper.imap(fn, [seed_of(master, STAGES["abc"], call, j) for j in range(n)]):
                results.append(res)
                if progress and (len(results) % max(1, n // 10) == 0 or len(results) == n):
                    runs = sum(k for _, k in results)
                    accepted = sum(part.n_accepted for part, _ in results)
                    print(f"  ABC generation {t}: {accepted} of {n} particles accepted in {runs} runs "
                          f"({len(results)} searched), {time.perf_counter() - t0:.0f} s", flush=True)
            sample = self._create_empty_sample()
            for part, _ in results:
                sample += part
            self.nr_evaluations_ = sum(k for _, k in results)
            sample.ok = sample.n_accepted >= n and self.nr_evaluations_ <= max_eval
            if not sample.ok:
                self.failed = (t, self.nr_evaluations_, sample.n_accepted)
                if progress:
                    print(f"  ABC generation {t} failed: {sample.n_accepted} of {n} particles in "
                          f"{self.nr_evaluations_} runs, an acceptance rate under 1 in {MAX_TRIES} (or a particle "
                          f"not found in {cap} runs); the generations before it are kept", flush=True)
            return sample

    return SeededMapSampler()


# ABC-SMC works in the sampler scale (a uniform prior on each [lo, hi]) with a kernel that never leaves the box: each
# parameter is perturbed by a normal truncated to its range (:func:`box_transition`). Two earlier kernels failed in
# the 36-38 dimensions of priors-refine.yaml. pyabc's Gaussian on the box itself: 4 in 10,000 proposals fell inside
# and pyabc redrew the rest one by one (about 4.5 ms a draw), which stalled round 31 (and probably round 17). The
# same Gaussian on logit-transformed parameters: never outside, but its importance weights carry a product of 36
# logistic prior densities, spanning 23-91 nats across a generation, and after generation 0 they fell on 1-2 of 60
# particles (effective sample size 1.1-2.4 in rounds 35 and 37).


def abc_prior(dims: list[Dim]):
    """pyabc's prior over ``p0``, ``p1``, ...: uniform on each parameter's [lo, hi] in the sampler scale."""
    import pyabc

    return pyabc.Distribution(**{f"p{j}": pyabc.RV("uniform", d.lo, d.hi - d.lo) for j, d in enumerate(dims)})


class AbcModel:
    """The pyabc model: parameters in the sampler scale (see :func:`abc_prior`) -> a run's target values and its
    distance."""

    def __init__(self, cal: Calibration):
        self.cal = cal
        self.names = [f"p{j}" for j in range(len(cal.dims))]

    def __call__(self, pars) -> dict:
        params = self.cal.params_of([pars[n] for n in self.names])
        rec = evaluate(self.cal.task(params, int(np.random.randint(0, 2**62, dtype=np.int64))))
        return {"distance": rec["distance"], "seed": float(rec["seed"]),
                **{i: float("nan") if v is None else float(v) for i, v in rec["values"].items()}}


def _stored_distance(x, x0) -> float:
    return float(x["distance"])


def box_transition(bounds: dict[str, tuple[float, float]]):
    """The perturbation kernel of the ABC-SMC: pick a particle by weight, then move each parameter by a normal
    with twice the population's weighted variance (Beaumont, Cornuet, Marin & Robert 2009), truncated to
    [lo, hi] and drawn through its inverse distribution function, so no proposal leaves the prior and none is
    redrawn. Its density is exact, so with the flat prior a particle's weight is the inverse of the proposal
    density. The kernel is diagonal: with fewer particles than parameters a full covariance is singular. A
    standard deviation is at least 1e-3 of its range, so a population collapsed onto one value still moves.
    ``bounds`` maps each parameter's name to its (lo, hi); pyabc may hand the population's columns in any order."""
    import pandas as pd
    from pyabc.transition import Transition
    from scipy.special import logsumexp, ndtr, ndtri

    class BoxTransition(Transition):
        def fit(self, X, w):
            self.columns = X.columns
            self.lo = lo = np.array([bounds[c][0] for c in X.columns], dtype=float)
            self.hi = hi = np.array([bounds[c][1] for c in X.columns], dtype=float)
            self.centres = X.to_numpy(dtype=float)
            self.weights = np.asarray(w, dtype=float) / np.sum(w)
            mean = self.weights @ self.centres
            self.sd = np.maximum(np.sqrt(2.0 * (self.weights @ (self.centres - mean) ** 2)), 1e-3 * (hi - lo))
            self.below = ndtr((lo - self.centres) / self.sd)  # each centre's truncation, as normal quantiles
            self.above = ndtr((hi - self.centres) / self.sd)
            mass = np.maximum(self.above - self.below, 1e-300)
            self.log_norm = np.log(mass) + np.log(self.sd * math.sqrt(2 * math.pi))

        def rvs_single(self):
            j = np.random.choice(len(self.weights), p=self.weights)
            q = self.below[j] + np.random.uniform(size=len(self.sd)) * (self.above[j] - self.below[j])
            return pd.Series(np.clip(self.centres[j] + self.sd * ndtri(q), self.lo, self.hi), index=self.columns)

        def pdf(self, x):
            points = np.atleast_2d(np.asarray(x[self.columns], dtype=float))
            z = (points[:, None, :] - self.centres[None, :, :]) / self.sd
            log_k = -(0.5 * z**2 + self.log_norm[None, :, :]).sum(axis=2)  # (points, particles)
            density = np.exp(logsumexp(log_k, b=self.weights[None, :], axis=1))
            density[~((points >= self.lo) & (points <= self.hi)).all(axis=1)] = 0.0
            return float(density[0]) if isinstance(x, pd.Series) else density

    return BoxTransition()


def _abc_marker(cal: Calibration) -> dict:
    """``abc.json``: the particles, first tolerance and generations of the ABC-SMC in the working folder, and
    whether it finished ({} when there is none)."""
    marker = cal.work / "abc.json"
    try:
        return json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else {}
    except (OSError, ValueError):
        return {}


def _abc_done(cal: Calibration, particles: int, generations: int, eps0: float) -> bool:
    """Whether the working folder holds a finished ABC-SMC with these settings (then it is not rerun)."""
    marker = _abc_marker(cal)
    settings = {k: marker.get(k) for k in ("particles", "generations", "eps0")}
    # folders from before the marker said whether it finished only ever had it written at the end
    return ((cal.work / "posterior.csv").is_file() and marker.get("finished", True) is True
            and settings == {"particles": particles, "generations": generations, "eps0": round(eps0, 9)})


def _abc_generations_to_continue(cal: Calibration, particles: int, generations: int, eps0: float) -> int:
    """Generations stored in ``abc.db`` by an ABC-SMC with the same particles and first tolerance that this one
    can continue: one interrupted before its last generation, or a finished one asked for more generations.
    0 when there is none (then the ABC-SMC starts afresh)."""
    import pyabc

    marker, db = _abc_marker(cal), cal.work / "abc.db"
    if not db.is_file() or marker.get("particles") != particles or marker.get("eps0") != round(eps0, 9):
        return 0
    try:
        stored = pyabc.History(f"sqlite:///{db}", create=False).max_t + 1
    except Exception:  # an unreadable database is started afresh, as no database is
        return 0
    return stored if 0 < stored < generations else 0


def run_abc(cal: Calibration, particles: int, generations: int, eps0: float, mapper: Mapper,
            progress: bool = False) -> Path:
    """ABC-SMC with pyabc into ``abc.db``; writes posterior.csv and abc_generations.csv.

    An ABC-SMC in the working folder with the same particles and first tolerance is continued from its last
    stored generation (see :func:`_abc_generations_to_continue`): generation t's tasks take the seeds they take in
    an uninterrupted run, and pyabc restores the tolerance and kernel from the stored population, so the result is
    the uninterrupted run's. Otherwise the ABC-SMC starts afresh.
    """
    import logging

    import pyabc

    from sim.sweep import write_atomic

    db = cal.work / "abc.db"
    stored = _abc_generations_to_continue(cal, particles, generations, eps0)
    if not stored:
        for f in (db, db.with_name(db.name + "-journal")):
            f.unlink(missing_ok=True)
    settings = {"particles": particles, "generations": generations, "eps0": round(eps0, 9)}
    write_atomic(cal.work / "abc.json", json.dumps({**settings, "finished": False}))
    model = AbcModel(cal)
    prior = abc_prior(cal.dims)
    saved = np.random.get_state()
    np.random.seed(seed_of(cal.master_seed, STAGES["driver"]) % 2**32)
    logging.getLogger("ABC").setLevel(logging.WARNING)
    try:
        sampler = seeded_map_sampler(mapper, cal.master_seed, progress)
        abc = pyabc.ABCSMC(model, prior, _stored_distance, population_size=particles,
                           transitions=box_transition({f"p{j}": (d.lo, d.hi) for j, d in enumerate(cal.dims)}),
                           sampler=sampler,
                           # continued, pyabc sets generation t's tolerance from the stored population t - 1, as it
                           # would have after that generation (a number here would restart it at eps0)
                           eps=pyabc.QuantileEpsilon(initial_epsilon="from_sample" if stored else eps0, alpha=0.5))
        if stored:
            abc.load(f"sqlite:///{db}")
            sampler.calls = stored  # generation t's tasks are seeded by (abc, t, j), as in an uninterrupted run
            if progress:
                print(f"  continuing the ABC-SMC in {db}: {stored} of {generations} generations stored", flush=True)
        else:
            abc.new(f"sqlite:///{db}", {"distance": 0.0})
        # a generation accepting under 1 in MAX_TRIES proposals has an unreachable tolerance: stop there
        history = abc.run(max_nr_populations=generations - stored, minimum_epsilon=0.0,
                          min_acceptance_rate=1 / MAX_TRIES)
    finally:
        np.random.set_state(saved)
    if history.max_t < 0:
        raise RuntimeError(f"ABC-SMC accepted no generation: fewer than 1 in {MAX_TRIES} prior draws came within "
                           f"the screen's median distance {eps0:.4g}")
    ess = export_abc(cal, history, sampler.failed)
    write_atomic(cal.work / "abc.json", json.dumps({**settings, "finished": True}))
    if progress:
        print(f"  effective sample size by generation: {', '.join(f'{e:.1f}' for e in ess)} of {particles} "
              "particles", flush=True)
    return db


def export_abc(cal: Calibration, history, failed: tuple | None = None) -> list[float]:
    """posterior.csv (every generation's particles in natural scale) and abc_generations.csv from pyabc's history,
    plus a row for a ``failed`` generation (t, runs, accepted), which pyabc does not keep; returns each kept
    generation's effective sample size."""
    from sim.sweep import write_atomic

    names = [f"p{j}" for j in range(len(cal.dims))]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["generation", "particle", "weight", "distance", *(d.path for d in cal.dims),
                *(t.id for t in cal.targets)])
    for t in range(history.max_t + 1):
        particles = history.get_population(t=t).particles
        for j, p in enumerate(particles):
            s = p.sum_stat
            w.writerow([t, j, float(p.weight), float(p.distance),
                        *(d.natural(p.parameter[n]) for d, n in zip(cal.dims, names)),
                        *("" if math.isnan(s[i]) else s[i] for i in (tt.id for tt in cal.targets))])
    write_atomic(cal.work / "posterior.csv", buf.getvalue())
    pops = history.get_all_populations()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["generation", "epsilon", "simulations", "accepted", "acceptance", "kept", "effective_sample_size"])
    ess = []
    for _, r in pops[pops["t"] >= 0].iterrows():
        ess.append(effective_sample_size(history.get_distribution(t=int(r["t"]))[1]))
        w.writerow([int(r["t"]), float(r["epsilon"]), int(r["samples"]), int(r["particles"]),
                    round(int(r["particles"]) / max(int(r["samples"]), 1), 4), "yes", round(ess[-1], 1)])
    if failed is not None:
        t, runs, accepted = failed
        why = f"no: under 1 in {MAX_TRIES} accepted or a particle not found in {TASK_CAP_FACTOR} x {MAX_TRIES} runs"
        w.writerow([t, "", runs, accepted, round(accepted / max(runs, 1), 4), why, ""])
    write_atomic(cal.work / "abc_generations.csv", buf.getvalue())
    return ess


def effective_sample_size(weights) -> float:
    """Kish's effective sample size of importance weights, (sum w)^2 / sum w^2: the number of equally weighted
    particles they are worth (all of them when the weights are equal, 1 when one weight holds everything)."""
    w = np.asarray(weights, dtype=float)
    return float(w.sum() ** 2 / np.sum(w**2))


def read_posterior(work: Path) -> list[dict]:
    with open(Path(work) / "posterior.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def weighted_median(values, weights) -> float:
    """The smallest value whose cumulative weight reaches half the total."""
    order = np.argsort(values, kind="stable")
    v, w = np.asarray(values, dtype=float)[order], np.asarray(weights, dtype=float)[order]
    return float(v[np.searchsorted(np.cumsum(w), 0.5 * w.sum())])


def fitted(cal: Calibration) -> dict:
    """The weighted median of each marginal in the last ABC generation (natural scale, 6 digits)."""
    rows = read_posterior(cal.work)
    last = max(int(r["generation"]) for r in rows)
    rows = [r for r in rows if int(r["generation"]) == last]
    weights = [float(r["weight"]) for r in rows]
    return {d.path: d.value(weighted_median([float(r[d.path]) for r in rows], weights)) for d in cal.dims}


def candidates(cal: Calibration, k: int) -> list[tuple[str, dict]]:
    """The weighted-median point, then the ``k`` distinct particles of the last ABC-SMC generation with the
    smallest distance, as (label, parameters)."""
    rows = read_posterior(cal.work)
    last = max(int(r["generation"]) for r in rows)
    rows = sorted((r for r in rows if int(r["generation"]) == last), key=lambda r: float(r["distance"]))
    out = [("weighted median", fitted(cal))]
    seen = {tuple(out[0][1].values())}
    for r in rows:
        if len(out) > k:
            break
        params = {d.path: d.value(float(r[d.path])) for d in cal.dims}
        if tuple(params.values()) not in seen:
            seen.add(tuple(params.values()))
            out.append((f"particle {r['particle']} (distance {float(r['distance']):.3f})", params))
    return out


def select(cal: Calibration, k: int, seeds: int, mapper: Mapper, progress: bool = True) -> tuple[dict, list[dict]]:
    """Run every candidate on the same ``seeds`` seeds (common random numbers) over the fitting period and keep
    the one that meets the most fitting targets in at least PASS_BAR of them (the bar the fit is judged by),
    the smaller mean distance breaking ties; one particle's own distance mostly reflects its seed. Writes
    ``select.csv``; returns the chosen parameters and one row per candidate."""
    from sim.sweep import write_atomic
    from sim.targets import Score

    cands = candidates(cal, k)
    if seeds < 1 or len(cands) == 1:
        return cands[0][1], []
    tasks = {f"c{i}_r{j}": cal.task(params, seed_of(cal.master_seed, STAGES["select"], j))
             for i, (_, params) in enumerate(cands) for j in range(seeds)}
    records = _run_all(cal, cal.work / "select", tasks, mapper, progress)
    table = []
    for i, (label, params) in enumerate(cands):
        recs = [records[f"c{i}_r{j}"] for j in range(seeds)]
        met = [Score(t, [r["values"].get(t.id) for r in recs]).pass_rate for t in cal.fit]
        table.append({"candidate": i, "label": label, "mean_distance": float(np.mean([r["distance"] for r in recs])),
                      "targets_met": sum(1 for x in met if x is not None and x >= PASS_BAR), "params": params})
    best = best_candidate(table)
    for row in table:
        row["chosen"] = row is best
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["candidate", "label", "mean_distance", "targets_met", "chosen", *(d.path for d in cal.dims)])
    for row in table:
        w.writerow([row["candidate"], row["label"], round(row["mean_distance"], 6), row["targets_met"],
                    int(row["chosen"]), *(row["params"][d.path] for d in cal.dims)])
    write_atomic(cal.work / "select.csv", buf.getvalue())
    return best["params"], table


def best_candidate(table: list[dict]) -> dict:
    """The row meeting the most fitting targets; among those the smallest mean distance, then the first."""
    return min(table, key=lambda row: (-row["targets_met"], row["mean_distance"], row["candidate"]))


def read_selection(work: Path) -> list[dict]:
    """Rows of ``select.csv`` (empty if the calibration chose the weighted median without a selection stage)."""
    path = Path(work) / "select.csv"
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def chosen(cal: Calibration) -> dict:
    """The fitted set a finished calibration chose: the selection stage's winner, else the weighted median."""
    for row in read_selection(cal.work):
        if row["chosen"] == "1":
            return {d.path: float(row[d.path]) for d in cal.dims}
    return fitted(cal)


def ensemble(cal: Calibration, params: dict, n: int, mapper: Mapper, progress: bool = True) -> list[dict]:
    """``n`` runs at ``params`` over the report horizon, with their monthly series."""
    tasks = {f"r{k}": cal.task(params, seed_of(cal.master_seed, STAGES["ensemble"], k), full=True) for k in range(n)}
    records = _run_all(cal, cal.work / "ensemble", tasks, mapper, progress)
    out = [{**rec, "replicate": k} for k, rec in enumerate(records.values())]
    write_table(cal.work / "ensemble.csv", out, cal)
    return out


def calibrated_yaml(cal: Calibration, params: dict, *, runs: dict, distances: dict,
                    statistic: str = MEDIAN_STATISTIC) -> str:
    """The text of calibrated.yaml (validated by :class:`CalibratedFile` before it is written)."""
    from sim.runner import git_commit

    scenario = portable(cal.scenario_path)
    data = {
        "description": "Fitted parameter values, written by `liptako calibrate`; see calibration/report.md. "
                       "A scenario takes them with `calibration: <path to this file>`.",
        "created": dt.datetime.now().isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "master_seed": cal.master_seed,
        "scenario": scenario,
        "statistic": statistic,
        "horizon": f"fitting runs end {cal.base['end']}; report ensemble ends {cal.base_full['end']}",
        "runs": runs,
        "distance": {k: round(float(v), 6) for k, v in distances.items()},
        "parameters": params,
    }
    CalibratedFile.model_validate(data)
    header = "# Written by `liptako calibrate` (sim/calibrate.py); do not edit by hand: rerun the calibration.\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110)


# ---------------------------------------------------------------------- the whole calibration


@dataclass
class Outcome:
    """What a calibration wrote."""

    calibrated: Path
    report: Path
    params: dict
    runs: dict
    distances: dict


def run_calibration(cal: Calibration, out: Path, *, screen_points: int, seeds_per_point: int, particles: int,
                    generations: int, ensemble_size: int, workers: int = 1, progress: bool = True,
                    candidates_k: int = 8, candidate_seeds: int = 5) -> Outcome:
    """Screen, ABC-SMC, the choice among candidate sets, the ensemble at the chosen one; then
    ``out/calibrated.yaml`` and the report."""
    from sim.calibration_report import write_report
    from sim.sweep import write_atomic

    for name, v in (("--screen", screen_points), ("--seeds-per-point", seeds_per_point), ("--particles", particles),
                    ("--generations", generations), ("--ensemble", ensemble_size), ("--workers", workers)):
        if v < 1:
            raise ScenarioError(f"{name}: expected a positive number, got {v}")
    for name, v in (("--candidates", candidates_k), ("--candidate-seeds", candidate_seeds)):
        if v < 0:
            raise ScenarioError(f"{name}: expected zero or a positive number, got {v}")
    cal.settings.update(screen=screen_points, seeds_per_point=seeds_per_point, particles=particles,
                        generations=generations, ensemble=ensemble_size, candidates=candidates_k,
                        candidate_seeds=candidate_seeds)
    open_work(cal)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mapper = Mapper(workers)
    try:
        if progress:
            print(f"screen: {screen_points} points x {seeds_per_point} seeds", flush=True)
        runs = screen(cal, screen_points, seeds_per_point, mapper, progress)
        per_run = [r["distance"] for r in runs]
        by_point: dict[int, list[float]] = {}
        for r in runs:
            by_point.setdefault(r["point"], []).append(r["distance"])
        eps0 = float(np.median(per_run))  # generation 0 keeps prior draws closer than half the screen's runs
        if progress:
            print(f"ABC-SMC: {particles} particles, {generations} generations, first tolerance {eps0:.4g}", flush=True)
        if _abc_done(cal, particles, generations, eps0):
            if progress:
                print("  ABC-SMC already done in this working folder; reusing posterior.csv", flush=True)
        else:
            run_abc(cal, particles, generations, eps0, mapper, progress)
        (cal.work / "select.csv").unlink(missing_ok=True)
        if progress and candidates_k and candidate_seeds:
            print(f"choosing the fitted set: the weighted median and the {candidates_k} closest particles, "
                  f"{candidate_seeds} seeds each", flush=True)
        params, table = select(cal, candidates_k, candidate_seeds, mapper, progress)
        if progress:
            print(f"ensemble: {ensemble_size} seeds at the fitted values", flush=True)
        ens = ensemble(cal, params, ensemble_size, mapper, progress)
    finally:
        mapper.close()
    gens = list(csv.DictReader(io.StringIO((cal.work / "abc_generations.csv").read_text(encoding="utf-8"))))
    run_counts = {"screen": len(runs), "abc": sum(int(g["simulations"]) for g in gens), "ensemble": len(ens)}
    distances = {"screen_best_point_mean": min(float(np.mean(v)) for v in by_point.values()),
                 "abc_final_tolerance": float(gens[-1]["epsilon"]),
                 "ensemble_mean": float(np.mean([distance(cal.fit, r["values"]) for r in ens]))}
    calibrated = out / "calibrated.yaml"
    if table:
        run_counts["select"] = len(table) * candidate_seeds
        best = next(row for row in table if row["chosen"])
        distances["select_mean"] = best["mean_distance"]
        statistic = (f"{best['label']}: the most fitting targets met, then the smallest mean distance, over "
                     f"{candidate_seeds} common seeds among the "
                     f"weighted median of the last ABC-SMC generation and its {len(table) - 1} closest particles")
    else:
        statistic = MEDIAN_STATISTIC
    write_atomic(calibrated, calibrated_yaml(cal, params, runs=run_counts, distances=distances, statistic=statistic))
    report = write_report(cal, out, params, calibrated=calibrated)
    return Outcome(calibrated, report, params, run_counts, distances)


def reopen(work: Path, geo=None) -> Calibration:
    """The calibration whose working folder is ``work`` (for ``--report-only``)."""
    manifest_path = Path(work) / "manifest.json"
    if not manifest_path.is_file():
        raise ScenarioError(f"{work}: not a calibration folder (no manifest.json); give the --work of a calibration")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    s = manifest["settings"]
    if not (Path(work) / "posterior.csv").is_file():
        raise ScenarioError(f"{work}: the calibration did not finish ABC-SMC (no posterior.csv); run it first")
    cal = prepare(_in_repo(manifest["identity"]["scenario"]), _in_repo(s["priors"]), _in_repo(s["targets"]),
                  master_seed=manifest["identity"]["master_seed"],
                  horizon=dt.date.fromisoformat(s["horizon"]) if s.get("horizon") else None, work=work, geo=geo,
                  settings=s)
    if identity(cal) != manifest["identity"]:
        raise ScenarioError(f"{work}: the scenario, priors or targets changed since this calibration ran; "
                            "rerun it instead of regenerating its report")
    return cal
