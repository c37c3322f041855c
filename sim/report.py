"""A self-contained HTML report of one run: key metadata, the JNIM-ISGS relation timeline, event
counts and every figure embedded (base64), so the single file can be mailed to a colleague.

The report holds nothing that changes between two runs of the same scenario and seed with the same
code (the wall time stays in ``metadata.json``), so a run's folder stays byte-reproducible.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

from sim import __version__
from sim.chronology import key_events, phase_at
from sim.eventlog import acled_actor
from sim.runview import CIVILIAN_TARGETING, PERPETRATORS, View, view_of_result

EVENT_TYPES = ("Battles", "Violence against civilians", "Explosions/Remote violence", "Strategic developments")
CAPTIONS = {
    "control_map.png": "Control at the documented phase dates: colour = controlling actor, paler = weaker hold "
                       "(the controller's share of influence), hatching = contested.",
    "control.gif": "Control over time, one frame per recorded date, with the documented phase.",
    "territory.png": "Area and population held per actor (stacked), under the documented phases and key events.",
    "violence.png": "JNIM-ISGS clashes and their dead per month, civilians killed per month by perpetrator, "
                    "and the run's JNIM-ISGS relation.",
    "timeseries.png": "Area and manpower of the main actors, JNIM-ISGS clashes and relation.",
}
MIME = {".png": "image/png", ".gif": "image/gif"}

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1250px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}td,th{border:1px solid #ccc;padding:.25em .6em;
text-align:right}th{background:#f2f2f2}td.l,th.l{text-align:left}figure{margin:1.2em 0}
img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}.muted{color:#666;font-size:.85em}
"""


def _table(header: list[str] | None, rows: list[list], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns are left-aligned (text), the rest right-aligned (numbers)."""
    def cell(tag, k, v):
        cls = ' class="l"' if k < left else ""
        return f"<{tag}{cls}>{html.escape(str(v))}</{tag}>"

    head = "<tr>" + "".join(cell("th", k, h) for k, h in enumerate(header)) + "</tr>" if header else ""
    body = "".join("<tr>" + "".join(cell("td", k, v) for k, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def _metadata_rows(run) -> list[list]:
    sc, c = run.scenario, run.counts
    return [
        ["scenario", sc.name],
        ["master seed / run index / run seed", f"{run.master_seed} / {run.run_index} / {run.run_seed}"],
        ["period", f"{sc.start} to {sc.end}, steps of {sc.step_days} days ({c.get('steps', '?')} steps)"],
        ["grid", f"{sc.resolution_deg} degree, {c.get('grid_rows', '?')} x {c.get('grid_cols', '?')} cells"],
        ["units (start / end)", f"{c.get('units_start', '?')} / {c.get('units_end', '?')}"],
        ["communities", c.get("communities", "?")],
        ["events logged", len(run.events)],
        ["civilians killed", c.get("civilians_killed_total", "?")],
        ["fighters killed", c.get("fighters_killed_total", "?")],
        ["residents displaced", c.get("displaced_total", "?")],
    ]


def _relation_rows(run) -> list[list]:
    timeline = run.relation_timeline()
    rows = []
    for k, (date, state) in enumerate(timeline):
        start = dt.date.fromisoformat(date)
        end = dt.date.fromisoformat(timeline[k + 1][0]) if k + 1 < len(timeline) else run.scenario.end
        phase = phase_at(start)
        rows.append([date, state, f"{(end - start).days // 7} weeks", phase.name if phase else "-"])
    return rows


def _event_rows(run) -> tuple[list[str], list[list]]:
    """Per year: events and dead by ACLED event type, JNIM-ISGS clashes, civilians killed by perpetrator."""
    years = range(run.scenario.start.year, run.scenario.end.year + 1)
    count, dead = Counter(), Counter()
    pair = {acled_actor("JNIM"), acled_actor("ISGS")}
    perpetrator = {acled_actor(a): g for g, (members, _) in PERPETRATORS.items() for a in members}
    for e in run.events:
        year = int(e["event_date"][:4])
        n = int(float(e["fatalities"] or 0))
        count[year, e["event_type"]] += 1
        dead[year, e["event_type"]] += n
        if e["event_type"] == "Battles" and {e["actor1"], e["actor2"]} == pair:
            count[year, "pair"] += 1
            dead[year, "pair"] += n
        if e["civilian_targeting"] == CIVILIAN_TARGETING and e["actor1"] in perpetrator:
            dead[year, perpetrator[e["actor1"]]] += n
    header = ["year"] + [f"{t} (dead)" for t in EVENT_TYPES] + ["JNIM-ISGS clashes (dead)"] + \
             [f"civilians killed by {g}" for g in PERPETRATORS]
    rows = []
    for y in [*years, "all"]:
        keys = list(years) if y == "all" else [y]
        row = [y]
        for t in [*EVENT_TYPES, "pair"]:
            row.append(f"{sum(count[k, t] for k in keys)} ({sum(dead[k, t] for k in keys)})")
        row.extend(sum(dead[k, g] for k in keys) for g in PERPETRATORS)
        rows.append(row)
    return header, rows


def _embed(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    caption = CAPTIONS.get(Path(path).name, Path(path).name)
    return (f'<figure><img alt="{html.escape(Path(path).name)}" src="data:{MIME[Path(path).suffix]};base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def render_report(source, figures: list[Path], meta: dict | None = None) -> str:
    """The report's HTML. ``figures``: PNG or GIF files to embed, in order (others, such as the MP4,
    are named, not embedded). ``meta``: the run's ``metadata.json`` (for the commit and versions)."""
    view = source if isinstance(source, View) else view_of_result(source)
    run = view.run
    meta = meta or {}
    code = [["liptako", meta.get("version", __version__)], ["git commit", meta.get("git_commit", "-")],
            ["Python / Mesa / numpy", " / ".join(str(meta.get(k, "-")) for k in ("python", "mesa", "numpy"))]]
    events = key_events(run.scenario)
    header, rows = _event_rows(run)
    parts = [
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>liptako: {html.escape(view.label)}</title><style>{STYLE}</style></head><body>",
        f"<h1>liptako run: {html.escape(view.label)}</h1>",
        "<p class=\"muted\">Agent-based simulation of the conflict in the Liptako-Gourma tri-border (Mali, Burkina "
        "Faso, Niger). Model outputs, not observations; documented phases from seeds/phases.yaml.</p>",
        "<h2>Run</h2>", _table(None, _metadata_rows(run) + code, left=2),
        "<h2>JNIM-ISGS relation in the run</h2>",
        _table(["from", "state", "lasting", "documented phase at that date"], _relation_rows(run), left=4),
        "<h2>Events per year</h2>",
        "<p class=\"muted\">ACLED event types: events (fatalities). Civilians killed: fatalities of events "
        "targeting civilians, by perpetrator.</p>",
        _table(header, rows),
        "<h2>Figures</h2>",
        *(_embed(f) for f in figures if Path(f).suffix in MIME),
        *(f"<p class=\"muted\">Also in the results folder: {html.escape(Path(f).name)}.</p>"
          for f in figures if Path(f).suffix not in MIME),
        "<h2>Scenario events</h2>",
        _table(["date", "id", "type"], [[e.date.isoformat(), e.id, e.type] for e in events], left=3),
        "</body></html>\n",
    ]
    return "\n".join(parts)


def write_report(source, path: Path, figures: list[Path], meta: dict | None = None) -> Path:
    """Write the report to ``path`` atomically (a temporary file renamed into place)."""
    path = Path(path)
    text = render_report(source, figures, meta)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def folder_metadata(folder: Path) -> dict:
    try:
        return json.loads((Path(folder) / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
