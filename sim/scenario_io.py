"""Load scenario YAML files into validated :class:`sim.params.Scenario` objects.

A scenario may extend another with ``base: other.yaml`` (a path relative to
the file): mappings are merged key by key, lists are replaced, and
``remove_events: [id, ...]`` drops dated events of the base. It may take
parameter values from a calibration with ``calibration: file.yaml`` (a file
``liptako calibrate`` wrote, relative to the scenario): they apply on top of
the base chain and under the file's own keys, a key set both in the file and
by the calibration is an error, and the resolved scenario records which file
(and its SHA-256) under ``calibrated_from``. Errors name the
file, the key path, the line where YAML gives one (in the file the key comes
from, which may be a base), and what was expected.

Files are read with :class:`StrictLoader`, PyYAML's safe loader with limits:
no duplicate keys, bounded size, nesting and alias expansion, and bad dates or
numbers reported with their line instead of a bare exception.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import yaml
from pydantic import BaseModel, ValidationError
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError

from sim.params import Scenario

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml
    CParser = None

MAX_BYTES = 2_000_000
MAX_DEPTH = 32  # nesting levels; the baseline needs 6
MAX_NODES = 200_000  # YAML nodes once aliases are expanded; the baseline has about 2,500
MAX_BASE_CHAIN = 16
TOP_LEVEL_EXTRAS = ("base", "remove_events", "calibration")  # keys read by resolve(), not by the schema


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and why."""


@dataclass(frozen=True)
class Origin:
    """Where a key's value was written: a file and 1-based line, or an override (file None)."""

    file: Path | None
    line: int | None
    role: str = "the base"  # what the file is to the scenario, for messages


# ---------------------------------------------------------------------- YAML


class StrictLoader(yaml.SafeLoader):
    """The safe loader with limits an untrusted file cannot get past.

    PyYAML keeps the last of two equal keys, expands aliases without bound
    ("billion laughs"), recurses once per nesting level and raises a bare
    ``ValueError`` for dates like 2017-02-30 or integers of thousands of
    digits; here each is a YAML error with its line.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._path: list = []  # key path of the node being composed, for messages
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes under it, aliases expanded; set once complete
        self._where_of: dict[int, str] = {}  # id(scalar node) -> 'key.path: ', for construction errors

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise ComposerError(None, None, f"{self._where(index)}alias *{event.anchor} refers to a collection "
                                    "that contains it", event.start_mark)
            node = super().compose_node(parent, index)
            self._count(self._sizes[id(node)], event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"{self._where()}nesting deeper than {MAX_DEPTH} levels",
                                self.peek_event().start_mark)
        self._path.append(index.value if isinstance(index, yaml.Node) else index)
        before = self._nodes
        node = super().compose_node(parent, index)
        if isinstance(node, yaml.ScalarNode) and index is not None:
            self._where_of[id(node)] = self._where()
        self._count(1, node.start_mark)
        self._sizes[id(node)] = self._nodes - before
        if isinstance(node, yaml.MappingNode):
            self._no_duplicate_keys(node)
        self._path.pop()
        self._depth -= 1
        return node

    def _count(self, n, mark):
        self._nodes += n
        if self._nodes > MAX_NODES:
            raise ComposerError(None, None, f"{self._where()}more than {MAX_NODES} values once aliases are expanded",
                                mark)

    def _where(self, index=None) -> str:
        """'key.path: ' of the node being composed (its first levels), for messages."""
        path = [p for p in self._path[1:] if p is not None]  # [0] is the root's None
        if isinstance(index, yaml.Node):
            path.append(index.value)
        shown = ".".join(str(p) for p in path[:4]) + (".(...)" if len(path) > 4 else "")
        return f"{shown}: " if shown else ""

    def _no_duplicate_keys(self, node):
        seen = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            first = seen.setdefault((key.tag, key.value), key)
            if first is not key:
                dotted = ".".join(str(p) for p in self._path[1:] + [key.value] if p is not None)
                raise ComposerError(None, None, f"{dotted}: duplicate key (first at line {first.start_mark.line + 1})",
                                    key.start_mark)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            shown = node.value if isinstance(node, yaml.ScalarNode) else node.tag
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            raise ConstructorError(None, None, f"{self._where_of.get(id(node), '')}cannot read {shown!r}: {exc}",
                                   node.start_mark) from None


if CParser is not None:

    class _FastStrictLoader(CParser, StrictLoader):
        """:class:`StrictLoader` over libyaml's scanner and parser (about four times faster on the
        baseline): PyYAML's composer still builds the nodes, so every limit applies as before.
        Files it rejects are read again by :class:`StrictLoader` for its messages."""

        get_single_node = Composer.get_single_node
        compose_document = Composer.compose_document
        check_node = Composer.check_node
        get_node = Composer.get_node

        def __init__(self, text: str):
            StrictLoader.__init__(self, text)
            CParser.__init__(self, text)

        def dispose(self):
            CParser.dispose(self)
else:
    _FastStrictLoader = None


def _lines(root, file: Path | None) -> dict[tuple, Origin]:
    """Key path -> where it is written, from YAML's node tree."""
    out: dict[tuple, Origin] = {}

    def walk(node, path, line):
        out.setdefault(path, Origin(file, line))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:  # a key's line, not its value's (a block value starts below)
                walk(v, path + (k.value,), k.start_mark.line + 1)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,), v.start_mark.line + 1)

    if root is not None:
        walk(root, (), root.start_mark.line + 1)
    return out


def _line_map(text: str) -> dict[tuple, int]:
    """Key path -> 1-based line number (for callers that format errors of one file)."""
    try:
        root = yaml.compose(text, Loader=StrictLoader)
    except yaml.YAMLError:
        return {}
    return {k: o.line for k, o in _lines(root, None).items()}


def _read(path: Path) -> tuple[object, str, dict[tuple, Origin]]:
    """Parse one file: (data, text, key path -> origin)."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such file")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ScenarioError(f"{path}: file is {size} bytes; scenario files are limited to {MAX_BYTES}")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ScenarioError(f"{path}: line {line}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                            "expected a UTF-8 YAML file") from None
    if _FastStrictLoader is not None:
        loader = None
        try:
            loader = _FastStrictLoader(text)  # PyYAML's reader still rejects control characters here
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
            return data, text, _lines(root, path)
        except (yaml.YAMLError, RecursionError):
            pass  # the pure-Python loader below reads the file again and words the error
        finally:
            if loader is not None:
                loader.dispose()
    loader = None
    try:
        loader = StrictLoader(text)  # the reader rejects control characters here
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ScenarioError(f"{path}: line {line}: not a text file: character #x{exc.character:04x} "
                            f"({exc.reason})") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}:{_where(exc)} invalid YAML: {_problem(exc)}") from None
    except RecursionError:  # only reachable through a Python recursion limit below MAX_DEPTH
        raise ScenarioError(f"{path}: invalid YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return data, text, _lines(root, path)


def _where(exc) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" line {mark.line + 1}:" if mark is not None else ""


def _problem(exc) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = "; ".join(p for p in parts if p)
    return text or str(exc)


def _read_mapping(path: Path) -> tuple[dict, str, dict[tuple, Origin]]:
    data, text, origins = _read(path)
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else f"a {type(data).__name__}"
        raise ScenarioError(f"{path}: expected a mapping of keys (key: value lines) at the top level, got {kind}")
    return data, text, origins


def read_yaml(path: Path) -> tuple[dict, str]:
    """One scenario file as a mapping, and its text."""
    data, text, _ = _read_mapping(path)
    return data, text


# ---------------------------------------------------------------------- base chains


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _replaced(base: dict, over: dict, prefix=()):
    """Key paths whose whole value ``over`` replaces when merged onto ``base``."""
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            yield from _replaced(base[k], v, prefix + (k,))
        else:
            yield prefix + (k,)


def _merge_origins(base: dict, base_o: dict, over: dict, over_o: dict) -> dict:
    gone = set(_replaced(base, over))
    kept = {p: o for p, o in base_o.items() if not any(p[:i] in gone for i in range(1, len(p) + 1))}
    return kept | over_o


def _resolve(path: Path, _seen: tuple = ()) -> tuple[dict, dict[tuple, Origin]]:
    """The scenario mapping with its ``base`` chain merged in, and where each key was written."""
    path = Path(path)
    real = path.resolve()
    data, _, origins = _read_mapping(path)
    base_ref = data.pop("base", None)
    removed = data.pop("remove_events", [])
    calibration = None
    if "calibration" in data:
        calibration = _calibration(path, data.pop("calibration"), data, origins)
    line = origins.get(("base",), Origin(path, None)).line
    if base_ref is None:
        if removed:
            raise ScenarioError(f"{path}: remove_events{_at(origins, ('remove_events',))}: "
                                "needs a 'base' scenario to remove from")
        return _calibrated(path, data, origins, calibration)
    if not isinstance(base_ref, str) or not base_ref.strip():
        raise ScenarioError(f"{path}: base (line {line}): expected a file name, got {base_ref!r}")
    base_path = path.parent / base_ref
    if not base_path.is_file():
        raise ScenarioError(f"{path}: base (line {line}): no such file {str(base_path)!r}")
    tidy = Path(os.path.normpath(base_path))  # messages name "scenarios/x.yaml", not "tests/../scenarios/x.yaml"
    if tidy.is_file() and os.path.samefile(tidy, base_path):
        base_path = tidy
    chain = _seen + (real,)
    if base_path.resolve() in chain:
        raise ScenarioError(f"{path}: base (line {line}): {str(base_path)!r} is already in the 'base' chain "
                            "(it loops back); expected a different scenario")
    if len(chain) >= MAX_BASE_CHAIN:
        raise ScenarioError(f"{path}: base (line {line}): 'base' chain longer than {MAX_BASE_CHAIN} files")
    base, base_o = _resolve(base_path, chain)
    merged = _merge(base, data)
    origins = _merge_origins(base, base_o, data, origins)
    if removed:
        where = _at(origins, ("remove_events",))
        if not isinstance(removed, list) or not all(isinstance(x, str) for x in removed):
            raise ScenarioError(f"{path}: remove_events{where}: expected a list of event ids")
        events = merged.get("events", [])
        ids = {e.get("id") for e in base.get("events", []) if isinstance(e, dict)}
        unknown = [x for x in removed if x not in ids]
        if unknown:
            hints = "".join(_did_you_mean(x, [i for i in ids if isinstance(i, str)]) for x in unknown)
            raise ScenarioError(f"{path}: remove_events{where}: unknown event id(s) {unknown}{hints}; "
                                f"the base has {sorted(map(str, ids))}")
        keep = [i for i, e in enumerate(events) if not (isinstance(e, dict) and e.get("id") in removed)]
        merged["events"] = [events[i] for i in keep]
        origins = _renumber(origins, "events", keep)
    return _calibrated(path, merged, origins, calibration)


def _calibration(path: Path, ref, data: dict, origins: dict) -> tuple[dict, dict, dict]:
    """The values of the calibration file a scenario names, nested, with where each was written, and the
    record of the file (:class:`sim.params.CalibrationRecord`)."""
    from sim.calibrate import load_calibrated

    line = origins.get(("calibration",), Origin(path, None)).line
    where = f"{path}: calibration (line {line})"
    if not isinstance(ref, str) or not ref.strip():
        raise ScenarioError(f"{where}: expected a file name, got {ref!r}")
    cpath = path.parent / ref
    if not cpath.is_file():
        raise ScenarioError(f"{where}: no such file {str(cpath)!r}")
    tidy = Path(os.path.normpath(cpath))
    if tidy.is_file() and os.path.samefile(tidy, cpath):
        cpath = tidy
    calib, lines, digest = load_calibrated(cpath)
    values: dict = {}
    layer_o: dict[tuple, Origin] = {}
    for key, value in calib.parameters.items():
        parts = tuple(key.split("."))
        at = Origin(cpath, lines.get(("parameters", key)), "the calibration")
        node = values
        for k, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            layer_o.setdefault(parts[:k + 1], at)
        node[parts[-1]] = value
        layer_o[parts] = at
        own = data
        for part in parts:
            own = own.get(part) if isinstance(own, dict) else None
        if own is not None:
            raise ScenarioError(f"{path}: {key}{_at(origins, parts)}: also set by the calibration {str(cpath)!r} "
                                f"(line {at.line}); remove it from one of them")
    record = {"file": str(ref), "sha256": digest, "created": calib.created, "git_commit": calib.git_commit,
              "master_seed": calib.master_seed, "parameters": dict(calib.parameters)}
    return values, layer_o, record


def _calibrated(path: Path, data: dict, origins: dict, calibration) -> tuple[dict, dict]:
    """``data`` (the file merged onto its base chain) with the calibration's values and record, and where
    each key was written. The values go on top: the file's own keys never clash with them (checked in
    :func:`_calibration`), so this equals the file's keys over the calibration over the base. A calibrated
    ``factions.X...`` must name an entry the scenario has (it would otherwise create a faction)."""
    if calibration is None:
        return data, origins
    from sim.sweep import _walk_schema

    for key in calibration[2]["parameters"]:
        parts = key.split(".")
        node = data
        for k, part in enumerate(parts[:-1]):
            info, cls = _walk_schema(parts[:k]) if k else (None, Scenario)
            keyed = info is not None and cls is None  # the parent is a mapping of names (factions, states)
            if keyed and part not in node:
                where = _at(calibration[1], tuple(parts), path)
                raise ScenarioError(f"{path}: {key}{where}: the scenario has no {parts[k - 1]} entry {part!r} "
                                    f"to calibrate; expected one of {sorted(node)}")
            node = node.get(part, {})
    merged = _merge(data, calibration[0])
    return {**merged, "calibrated_from": calibration[2]}, _merge_origins(data, origins, calibration[0], calibration[1])


def _renumber(origins: dict, key: str, keep: list[int]) -> dict:
    """Origins of list ``key`` after only the items at ``keep`` remain, renumbered from 0."""
    new_index = {old: new for new, old in enumerate(keep)}
    out = {}
    for p, o in origins.items():
        if len(p) >= 2 and p[0] == key and isinstance(p[1], int):
            if p[1] not in new_index:
                continue
            p = (key, new_index[p[1]]) + p[2:]
        out[p] = o
    return out


def resolve(path: Path) -> dict:
    """The scenario mapping with its ``base`` chain merged in."""
    return _resolve(path)[0]


# ---------------------------------------------------------------------- error messages


def _at(origins: dict, loc: tuple, top: Path | None = None) -> str:
    """' (line N)' for the deepest part of ``loc`` that was written somewhere, naming other files."""
    for k in range(len(loc), -1, -1):
        o = origins.get(tuple(loc[:k]))
        if o is None:
            continue
        if o.file is None:
            return " (set by an override)"
        if o.line is None:
            return ""
        if top is not None and Path(o.file) != Path(top):
            return f" (line {o.line} of {o.file}, {o.role})"
        return f" (line {o.line})"
    return ""


def _did_you_mean(word, candidates) -> str:
    match = difflib.get_close_matches(str(word), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models a field can hold, through Optional, list, dict, tuple and Annotated unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tag(model) -> str | None:
    field = model.model_fields.get("type")
    args = get_args(field.annotation) if field is not None else ()
    return args[0] if len(args) == 1 and isinstance(args[0], str) else None


def _fields_at(cls, path) -> list[str]:
    """Keys allowed at ``path`` (a pydantic error location, event tags included)."""
    models = [cls]
    for part in path:
        if isinstance(part, int):
            continue
        owners = [m for m in models if part in m.model_fields]
        if owners:
            models = _models_in(owners[0].model_fields[part].annotation)
            continue
        tagged = [m for m in models if _tag(m) == part]
        if tagged:
            models = tagged
        # anything else is a dict key (factions.JNIM): the value models stay
        if not models:
            return []
    return sorted({f for m in models for f in m.model_fields})


def _suggest(loc: tuple, model_cls=Scenario) -> str:
    """A 'did you mean' for a misspelt key, searching the schema along the path."""
    fields = _fields_at(model_cls, loc[:-1])
    if len(loc) == 1 and model_cls is Scenario:
        fields = fields + list(TOP_LEVEL_EXTRAS)
    return _did_you_mean(loc[-1], fields) if fields else ""


_EVENT_TAGS = {"coup", "partner_arrival", "partner_exit", "leader_killed", "status_change", "mediation",
               "militia_founded", "strategy_change"}


def _strip_tags(loc: tuple) -> tuple:
    """Drop pydantic's union tag (events.3.coup.regime -> events.3.regime)."""
    return tuple(x for i, x in enumerate(loc)
                 if not (i >= 2 and loc[i - 2] == "events" and isinstance(x, str) and x in _EVENT_TAGS))


def format_errors(path: Path, exc: ValidationError, lines: dict, model_cls=Scenario) -> str:
    """One line per validation error: file, key path, line, what was expected.

    ``lines`` maps key paths to a line number of ``path`` or to an :class:`Origin`.
    """
    origins = {k: v if isinstance(v, Origin) else Origin(path, v) for k, v in lines.items()}
    out = []
    for err in exc.errors():
        raw = tuple(err["loc"]) + tuple((err.get("ctx") or {}).get("at", ()))  # model-level checks name their key
        loc = _strip_tags(raw)
        dotted = ".".join(str(x) for x in loc) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key" + _suggest(raw, model_cls)
        elif kind == "missing":
            msg = "required key is missing"
        elif kind == "union_tag_invalid":
            ctx = err.get("ctx") or {}
            msg += _did_you_mean(ctx.get("tag", ""), sorted(_EVENT_TAGS))
        got = err.get("input")
        shown = "" if kind in ("extra_forbidden", "missing") or isinstance(got, dict | list) else f"; got {_short(got)}"
        out.append(f"{path}: {dotted}{_at(origins, loc, path)}: {msg}{shown}")
    return "\n".join(out)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _non_finite(data, path=()):
    """Key paths of NaN or infinite numbers (YAML's .nan, .inf, 1.0e999)."""
    if isinstance(data, float) and not math.isfinite(data):
        yield path
    elif isinstance(data, dict):
        for k, v in data.items():
            yield from _non_finite(v, path + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from _non_finite(v, path + (i,))


def load_scenario(path, overrides: dict | None = None) -> Scenario:
    """Read, merge and validate a scenario file; raise :class:`ScenarioError` with every problem."""
    path = Path(path)
    data, origins = _resolve(path)
    if overrides:
        origins = _merge_origins(data, origins, overrides, _override_origins(overrides))
        data = _merge(data, overrides)
    bad = [f"{path}: {'.'.join(map(str, p))}{_at(origins, p, path)}: expected a finite number"
           for p in _non_finite(data)]
    if bad:
        raise ScenarioError("\n".join(bad))
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(format_errors(path, exc, origins)) from None


def _override_origins(over: dict, prefix=()) -> dict:
    out = {}
    for k, v in over.items():
        out[prefix + (k,)] = Origin(None, None)
        if isinstance(v, dict):
            out |= _override_origins(v, prefix + (k,))
    return out


def check_places(scenario: Scenario, geo, path) -> None:
    """Every town a unit or partner base names must exist in the geography (seeds/places.yaml)."""
    path = Path(path)
    names = {t.name.casefold() for t in geo.towns}
    known = [t.name for t in geo.towns]
    try:
        origins = _resolve(path)[1]
    except ScenarioError:
        origins = {}
    problems = []

    def check(loc, town):
        if town.casefold() not in names:
            problems.append(f"{path}: {'.'.join(map(str, loc))}{_at(origins, loc, path)}: unknown town {town!r}"
                            f"{_did_you_mean(town, known)}; expected a town of seeds/places.yaml")

    for k, u in enumerate(scenario.forces):
        check(("forces", k, "near"), u.near)
    for k, e in enumerate(scenario.events):
        for j, b in enumerate(getattr(e, "bases", []) or []):
            check(("events", k, "bases", j), b)
        for j, u in enumerate(getattr(e, "units", []) or []):
            check(("events", k, "units", j, "near"), u.near)
    if problems:
        raise ScenarioError("\n".join(problems))


def scenario_to_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario as YAML (every default written out)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
