"""Figures check their content: map pixels have the colour of the actor the raster says holds the cell,
contested cells are hatched, the animation has one frame per date, the report embeds every figure, and
the figures can be rebuilt from a results folder on disk (plot, compare, report commands)."""

import base64
import datetime as dt
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib.colors import to_rgb
from PIL import Image

from sim import plots
from sim.actors import CAST, INDEX
from sim.chronology import key_events, phase_at, relation_phases
from sim.cli import main
from sim.report import render_report, write_report
from sim.runner import RunResult, run, write_results
from sim.runview import DERIVED_FILES, RUN_FIGURES, load_run, load_view, monthly, view_of_result

from toyworld import toy_scenario

JNIM, ISGS = INDEX["JNIM"], INDEX["ISGS"]
DATES = [dt.date(2019, 1, 3) + dt.timedelta(weeks=4 * k) for k in range(5)]


def _rgb(colour) -> np.ndarray:
    return np.array(to_rgb(colour)) * 255


def synthetic(geo, n_dates: int = 5) -> RunResult:
    """A run on the toy world (20 x 20 cells of 0.1 degree) with hand-made rasters: JNIM holds a block
    at full strength, ISGS a block at the weakest drawn strength, a third block is contested; the JNIM
    block grows by one column per date so frames differ."""
    lat = 15.0 - (np.arange(20) + 0.5) * 0.1
    lon = 0.0 + (np.arange(20) + 0.5) * 0.1
    rasters = []
    for k in range(n_dates):
        control = np.full((20, 20), -1, dtype=np.int8)
        contested = np.zeros((20, 20), dtype=bool)
        share = np.zeros((20, 20), dtype=np.float16)
        control[2:9, 2:9 + k] = JNIM
        share[2:9, 2:9 + k] = 1.0
        control[12:19, 12:19] = ISGS
        share[12:19, 12:19] = plots.SHARE_RANGE[0]
        contested[2:7, 14:19] = True
        rasters.append((DATES[k], control, contested, share))
    history = [{"date": d.isoformat(), "actor": a.name, "area_km2": 100.0 * (i + 1) * (a.name in ("JNIM", "ISGS")),
                "population_ruled": 1000.0 * (a.name == "JNIM"), "manpower": 50.0, "treasury": 0.0, "support": 0.1,
                "strain": 0.0, "town_focus": 0.0}
               for i, d in enumerate(DATES[:n_dates]) for a in CAST]
    return RunResult(toy_scenario(end="2019-06-30"), 7, 11, history, [], [], rasters, lat, lon, 1.0, {}, geo)


def _pixel(image: np.ndarray, ax, lon: float, lat: float) -> np.ndarray:
    """The RGB of the image pixel at (lon, lat) in ``ax`` (display coordinates start bottom left)."""
    x, y = ax.transData.transform((lon, lat))
    return image[image.shape[0] - int(round(y)), int(round(x)), :3].astype(float)


def test_map_pixels_have_the_colour_of_the_actor_holding_the_cell(tmp_path, geo_toy):
    result = synthetic(geo_toy)
    path = plots.control_maps(result, tmp_path / "map.png", dates=[DATES[0], DATES[2]])
    saved = np.asarray(Image.open(path).convert("RGB"))
    fig, panels = plots.control_maps_figure(result, dates=[DATES[0], DATES[2]])
    fig.canvas.draw()
    drawn = np.asarray(fig.canvas.buffer_rgba())
    assert saved.shape[:2] == drawn.shape[:2]  # the saved file has the layout the transforms describe
    ax = panels[DATES[0]]
    lat, lon = result.lat, result.lon
    jnim_cell = _pixel(saved, ax, lon[4], lat[4])  # inside JNIM's block, at full strength
    assert np.abs(jnim_cell - _rgb(CAST[JNIM].colour)).max() <= 2
    isgs_cell = _pixel(saved, ax, lon[17], lat[17])  # ISGS's block, at the palest strength
    palest = 255 - (255 - _rgb(CAST[ISGS].colour)) * plots.PALEST
    assert np.abs(isgs_cell - palest).max() <= 2
    assert np.abs(_pixel(saved, ax, lon[10], lat[15]) - 255).max() <= 1  # nobody's cell: white
    # the contested block: hatch lines (dark) over the light grey fill, no actor colour
    block = [_pixel(saved, ax, x, y) for x in np.linspace(lon[14], lon[18], 25)
             for y in np.linspace(lat[2], lat[6], 25)]
    greys = np.array([p for p in block if np.ptp(p) < 6])
    assert len(greys) == len(block), "contested cells take no actor's hue"
    assert greys.min() < 120 and np.median(greys) > 200, "hatching over a light fill"
    # the JNIM block grew by two columns by the second panel
    later = panels[DATES[2]]
    assert np.abs(_pixel(saved, later, lon[10], lat[7]) - _rgb(CAST[JNIM].colour)).max() <= 2
    assert np.abs(_pixel(saved, ax, lon[10], lat[7]) - 255).max() <= 1


def test_control_rgba_strength_and_contested():
    control = np.array([[JNIM, JNIM, -1, -1]], dtype=np.int8)
    contested = np.array([[False, False, True, False]])
    rgba = plots.control_rgba(control, contested, np.array([[1.0, 0.6, 0.5, 0.0]]))
    full, half = rgba[0, 0, :3], rgba[0, 1, :3]
    assert np.allclose(full, to_rgb(CAST[JNIM].colour))
    assert np.all(half >= full - 1e-9) and np.all(half <= 1.0) and not np.allclose(half, full)  # paler, same hue
    assert np.allclose(rgba[0, 2, :3], to_rgb(plots.CONTESTED_FILL)) and rgba[0, 3, 3] == 0.0


def test_animation_has_one_frame_per_date(tmp_path, geo_toy):
    result = synthetic(geo_toy)
    chosen = [DATES[0], DATES[3], DATES[4]]
    out = plots.animate_control(result, tmp_path / "control.gif", dates=chosen, mp4=False)
    assert out == [tmp_path / "control.gif"]
    with Image.open(out[0]) as gif:
        assert gif.n_frames == len(chosen)
        frames = []
        for k in range(gif.n_frames):
            gif.seek(k)
            frames.append(np.asarray(gif.convert("RGB")).astype(int))
    assert all(np.abs(a - b).sum() > 0 for a, b in zip(frames, frames[1:]))
    everything = plots.animate_control(result, tmp_path / "all.gif", mp4=False)
    with Image.open(everything[0]) as gif:
        assert gif.n_frames == len(result.rasters)


@pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="no ffmpeg on PATH")
def test_mp4_next_to_the_gif_when_ffmpeg_is_there(tmp_path, geo_toy):
    out = plots.animate_control(synthetic(geo_toy), tmp_path / "control.gif", fps=2)
    assert out == [tmp_path / "control.gif", tmp_path / "control.mp4"]
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=nb_read_frames", "-of", "csv=p=0", str(out[1])], capture_output=True, text=True)
    assert int(probe.stdout.strip()) == 5


def test_phases_come_from_the_seeds():
    phases = relation_phases()
    assert [p.id for p in phases][:2] == ["cooperation", "tension"] and phases[0].start == dt.date(2017, 3, 1)
    assert all(a.end == b.start for a, b in zip(phases, phases[1:]))  # consecutive, no overlap
    assert phase_at(dt.date(2022, 6, 1)).id == "truce" and phase_at(dt.date(2022, 11, 3)).id == "renewed-war"
    assert phase_at(dt.date(2016, 1, 1)) is None


def test_key_events_are_the_runs_own(baseline_scenario):
    events = key_events(baseline_scenario)
    assert {"iswap-induction", "mali-coup-2020", "wagner-arrival"} <= {e.id for e in events}
    assert [e.date for e in events] == sorted(e.date for e in events)
    labels = {e.id: e.label for e in events}
    assert labels["mali-coup-2020"] == "coup MLI" and labels["france-exits-mali"] == "France leaves MLI"
    short = baseline_scenario.model_copy(update={"end": dt.date(2019, 12, 31)})
    assert all(e.date <= dt.date(2019, 12, 31) for e in key_events(short))


@pytest.fixture(scope="module")
def toy_runs(tmp_path_factory, geo_toy):
    """Two short toy runs (different seeds) written as results folders, and an ensemble folder of both."""
    root = tmp_path_factory.mktemp("runs")
    sc = toy_scenario(end="2019-08-29")
    results = [run(sc, geo_toy, seed=s) for s in (3, 4)]
    folders = [write_results(r, root / "ensemble", plots=k == 0) for k, r in enumerate(results)]
    return results, folders, root / "ensemble"


def test_results_folder_rebuilds_the_run(toy_runs, geo_toy):
    results, folders, _ = toy_runs
    again = load_run(folders[0], geo_toy)
    r = results[0]
    assert (again.master_seed, again.run_seed, again.scenario) == (r.master_seed, r.run_seed, r.scenario)
    assert again.relation_timeline() == r.relation_timeline()
    assert [(h["date"], h["actor"], h["area_km2"], h["manpower"]) for h in again.history] == \
           [(h["date"], h["actor"], h["area_km2"], h["manpower"]) for h in r.history]
    assert len(again.rasters) == len(r.rasters)
    for (d1, c1, k1, s1), (d2, c2, k2, s2) in zip(again.rasters, r.rasters):
        assert d1 == d2 and np.array_equal(c1, c2) and np.array_equal(k1, k2) and np.array_equal(s1, s2)
    for name in ("clashes.JNIM-ISGS", "civilian_fatalities.ISGS"):
        assert np.array_equal(monthly(again, name)[1], monthly(r, name)[1])


def test_monthly_event_series_count_the_events(toy_runs):
    r = toy_runs[0][0]
    months, civ = monthly(r, "civilian_fatalities.state forces")
    states = {CAST[INDEX[a]].acled_name for a in ("FAMa", "Burkina army", "Niger army")}
    expected = sum(int(e["fatalities"]) for e in r.events if e["civilian_targeting"] and e["actor1"] in states)
    assert civ.sum() == expected and months[0] == "2019-01" and months[-1] == "2019-08"


def test_run_folder_has_figures_and_report(toy_runs):
    folder = toy_runs[1][0]
    names = {p.name for p in folder.iterdir()}
    assert set(RUN_FIGURES) | {"report.html"} <= names
    assert "control.gif" not in names  # opt-in for `liptako run`


def test_report_embeds_every_figure(tmp_path, toy_runs):
    result, folder = toy_runs[0][0], toy_runs[1][0]
    figures = [folder / n for n in ("control_map.png", "territory.png", "violence.png", "timeseries.png")]
    gif = plots.animate_control(result, tmp_path / "control.gif", mp4=False)[0]
    path = write_report(result, tmp_path / "report.html", figures + [gif], {"git_commit": "abc123"})
    text = path.read_text(encoding="utf-8")
    sources = re.findall(r'<img[^>]*\ssrc="([^"]*)"', text)
    assert len(sources) == len(figures) + 1
    assert all(s.startswith("data:image/") for s in sources)
    assert not re.search(r'(src|href)="(https?:)?//', text), "a mailed report must not load anything"
    embedded = [base64.b64decode(s.split(",", 1)[1]) for s in sources]
    assert embedded == [p.read_bytes() for p in figures + [gif]]
    assert "abc123" in text and str(result.master_seed) in text
    for date, state in result.relation_timeline():
        assert f"<td class=\"l\">{date}</td><td class=\"l\">{state}</td>" in text
    battles = sum(1 for e in result.events if e["event_type"] == "Battles")
    battle_dead = sum(int(e["fatalities"]) for e in result.events if e["event_type"] == "Battles")
    assert f"<td class=\"l\">all</td><td>{battles} ({battle_dead})</td>" in text
    # the run's own report is the same, and holds nothing that differs between equal runs
    assert (folder / "report.html").read_text(encoding="utf-8").count("<img") == 4
    assert render_report(result, figures) == render_report(result, figures)


def test_ensemble_view_medians_bands_and_modal_control(toy_runs):
    results, _, ensemble = toy_runs
    view = load_view(ensemble)
    assert view.kind == "runs" and len(view.runs) == 2 and view.is_ensemble
    band = view.series(["JNIM.manpower"])["JNIM.manpower"]
    values = np.array([[h["manpower"] for h in r.history if h["actor"] == "JNIM"] for r in results], dtype=float)
    assert np.allclose(band.median, np.median(values, axis=0))
    assert np.allclose(band.p05, np.percentile(values, 5, axis=0)) and np.allclose(band.p95,
                                                                                    np.percentile(values, 95, axis=0))
    date = results[0].rasters[-1][0]
    _, modal, _, agree = view.control_at(date)
    a, b = results[0].rasters[-1][1], results[1].rasters[-1][1]
    assert np.all(modal[a == b] == a[a == b]) and np.all(agree[a == b] == 1.0)
    assert np.all(agree[a != b] == 0.5)


def test_plot_command_on_a_run_and_an_ensemble(tmp_path, toy_runs, capsys):
    _, folders, ensemble = toy_runs
    out = tmp_path / "figs"
    assert main(["plot", str(folders[0]), "--out", str(out), "--dates", "2019-02-01", "2019-07-01"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"control_map.png", "timeseries.png", "territory.png", "violence.png", "control.gif",
            "report.html"} <= names
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count('src="data:image/png;base64,') == 4 and report.count('src="data:image/gif;base64,') == 1
    assert main(["plot", str(ensemble), "--out", str(tmp_path / "ens"), "--no-animation"]) == 0
    assert {p.name for p in (tmp_path / "ens").iterdir()} == {"control_map.png", "timeseries.png", "territory.png",
                                                              "violence.png"}
    capsys.readouterr()
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert main(["plot", str(folders[0]), "--dates", "2030-01-01"]) == 2
    assert main(["plot", str(folders[0]), "--dates", "2019-13-01"]) == 2
    assert "expected a date" in capsys.readouterr().err


def test_compare_command(tmp_path, toy_runs, capsys):
    results, folders, ensemble = toy_runs
    out = tmp_path / "cmp"
    assert main(["compare", str(folders[0]), str(folders[1]), "--out", str(out), "--dates", "2019-05-01"]) == 0
    assert {p.name for p in out.iterdir()} == {"control_diff.png", "series.png"}
    a = min(results[0].rasters, key=lambda r: abs((r[0] - dt.date(2019, 5, 1)).days))[1]
    b = min(results[1].rasters, key=lambda r: abs((r[0] - dt.date(2019, 5, 1)).days))[1]
    assert f"control differs on {(a != b).mean() * 100:.1f}% of cells" in capsys.readouterr().out
    assert main(["compare", str(folders[0]), str(ensemble), "--out", str(tmp_path / "cmp2")]) == 0
    assert (tmp_path / "cmp2" / "control_diff.png").stat().st_size > 20000


def test_sweep_folder_series(tmp_path, toy_runs):
    """A sweep folder keeps only the series its spec lists: plot and compare draw those, with bands."""
    results, folders, _ = toy_runs
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "manifest.json").write_text(json.dumps({"spec": {"name": "toysweep"}}))
    shutil.copy(folders[0] / "scenario.yaml", sweep / "base_scenario.yaml")
    for k, r in enumerate(results):
        dates = [h["date"] for h in r.history if h["actor"] == "JNIM"]
        values = [h["area_km2"] for h in r.history if h["actor"] == "JNIM"]
        rec = {"run_id": f"p0_r{k}", "point": 0, "replicate": k, "seed": k, "params": {}, "metrics": {},
               "series": {"dates": dates, "values": {"JNIM.area_km2": values}}}
        (sweep / "runs" / f"p0_r{k}.json").write_text(json.dumps(rec))
    view = load_view(sweep)
    assert view.kind == "sweep" and view.available_series() == ["JNIM.area_km2"] and not view.has_maps
    assert view.series(["JNIM.area_km2"])["JNIM.area_km2"].n == 2
    assert main(["plot", str(sweep), "--out", str(tmp_path / "p")]) == 0
    assert {p.name for p in (tmp_path / "p").iterdir()} == {"series.png"}
    assert main(["compare", str(folders[0]), str(sweep), "--out", str(tmp_path / "c")]) == 0
    assert {p.name for p in (tmp_path / "c").iterdir()} == {"series.png"}
    assert main(["plot", str(sweep), "--point", "3"]) == 2


def test_report_command_rebuilds_figures_from_the_data(tmp_path, toy_runs):
    folder = toy_runs[1][1]
    target = tmp_path / "mail.html"
    assert main(["report", str(folder), "--out", str(target)]) == 0
    assert target.read_text(encoding="utf-8").count('src="data:image/png;base64,') == 4
    assert main(["report", str(toy_runs[2])]) == 2  # an ensemble has no single-run report


def test_view_of_a_result_matches_the_folder(toy_runs):
    result, folder = toy_runs[0][0], toy_runs[1][0]
    for name in ("ISGS.area_km2", "clashes.JNIM-ISGS"):
        a = view_of_result(result).series([name])[name]
        b = load_view(folder).series([name])[name]
        assert np.array_equal(a.dates, b.dates) and np.allclose(a.median, b.median)


def test_rerun_comparison_leaves_out_the_report_and_animation(tmp_path, toy_runs):
    """`liptako plot` adds an animation and rewrites the report at any time; `liptako rerun` compares the rest."""
    from sim.commands.rerun import compare_folders

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(toy_runs[1][0], a)
    shutil.copytree(toy_runs[1][0], b)
    (a / "control.gif").write_bytes(b"GIF89a")
    (b / "report.html").write_text("rewritten", encoding="utf-8")
    rows = compare_folders(a, b)
    assert all(ok for _, ok, _ in rows)
    assert {name for name, _, _ in rows} >= set(RUN_FIGURES) and not {name for name, _, _ in rows} & set(DERIVED_FILES)
