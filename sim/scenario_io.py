"""Load scenario YAML files into validated :class:`sim.params.Scenario` objects.

A scenario may extend another with ``base: other.yaml`` (a path relative to
the file): mappings are merged key by key, lists are replaced, and
``remove_events: [id, ...]`` drops dated events of the base. Errors name the
file, the key path, the line where YAML gives one, and what was expected.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml
from pydantic import ValidationError

from sim.params import Scenario

MAX_BYTES = 2_000_000


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message says where and why."""


def _line_map(text: str) -> dict[tuple, int]:
    """Key path -> 1-based line number, from YAML's node tree."""
    lines: dict[tuple, int] = {}

    def walk(node, path):
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                walk(v, path + (k.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, path + (i,))

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def read_yaml(path: Path) -> tuple[dict, str]:
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ScenarioError(f"{path}: file is larger than {MAX_BYTES} bytes")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{path}:{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping of scenario keys at the top level, got {type(data).__name__}")
    return data, text


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def resolve(path: Path, _seen: tuple = ()) -> dict:
    """The scenario mapping with its ``base`` chain merged in."""
    path = Path(path).resolve()
    if path in _seen:
        raise ScenarioError(f"{path}: 'base' chain loops back to itself")
    data, _ = read_yaml(path)
    base_ref = data.pop("base", None)
    removed = data.pop("remove_events", [])
    if base_ref is None:
        if removed:
            raise ScenarioError(f"{path}: remove_events: needs a 'base' scenario to remove from")
        return data
    if not isinstance(base_ref, str):
        raise ScenarioError(f"{path}: base: expected a file name, got {base_ref!r}")
    base = resolve(path.parent / base_ref, _seen + (path,))
    merged = _merge(base, data)
    if removed:
        if not isinstance(removed, list) or not all(isinstance(x, str) for x in removed):
            raise ScenarioError(f"{path}: remove_events: expected a list of event ids")
        ids = {e.get("id") for e in base.get("events", []) if isinstance(e, dict)}
        unknown = [x for x in removed if x not in ids]
        if unknown:
            raise ScenarioError(f"{path}: remove_events: unknown event id(s) {unknown}; the base has {sorted(ids)}")
        merged["events"] = [e for e in merged.get("events", []) if e.get("id") not in removed]
    return merged


def _suggest(loc: tuple, model_cls=Scenario) -> str:
    """A 'did you mean' for a misspelt key, searching the schema along the path."""
    fields = _fields_at(model_cls, loc[:-1])
    if not fields:
        return ""
    match = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _fields_at(cls, path) -> list[str]:
    from typing import get_args, get_origin

    from pydantic import BaseModel

    for part in path:
        if isinstance(part, int):
            continue
        field = getattr(cls, "model_fields", {}).get(part)
        if field is None:
            return []
        ann = field.annotation
        candidates = [ann, *get_args(ann)]
        nxt = None
        for c in candidates:
            if isinstance(c, type) and issubclass(c, BaseModel):
                nxt = c
                break
            for cc in get_args(c):
                if isinstance(cc, type) and issubclass(cc, BaseModel):
                    nxt = cc
        if nxt is None:
            return []
        cls = nxt
    return list(getattr(cls, "model_fields", {}))


def format_errors(path: Path, exc: ValidationError, lines: dict) -> str:
    out = []
    for err in exc.errors():
        loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and x in _EVENT_TAGS))
        dotted = ".".join(str(x) for x in loc) or "(top level)"
        line = next((lines[loc[:k]] for k in range(len(loc), -1, -1) if loc[:k] in lines), None)
        where = f" (line {line})" if line else ""
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key" + _suggest(loc)
        elif err["type"] == "missing":
            msg = "required key is missing"
        got = err.get("input")
        shown = "" if err["type"] in ("extra_forbidden", "missing") or isinstance(got, dict | list) else f"; got {got!r}"
        out.append(f"{path}: {dotted}{where}: {msg}{shown}")
    return "\n".join(out)


_EVENT_TAGS = {"coup", "partner_arrival", "partner_exit", "leader_killed", "status_change", "mediation",
               "militia_founded", "strategy_change"}


def load_scenario(path, overrides: dict | None = None) -> Scenario:
    """Read, merge and validate a scenario file; raise :class:`ScenarioError` with every problem."""
    path = Path(path)
    data = resolve(path)
    if overrides:
        data = _merge(data, overrides)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        _, text = read_yaml(path)
        raise ScenarioError(format_errors(path, exc, _line_map(text))) from None


def scenario_to_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario as YAML (every default written out)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
