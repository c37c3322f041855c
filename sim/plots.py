"""Figures of a run or an ensemble: control maps, an animation, phase-annotated charts, comparisons.

Every figure takes a :class:`sim.runview.View` (a run in memory, a results folder on
disk, or an ensemble) or a :class:`sim.runner.RunResult`. Maps colour each cell by its
controlling actor (Okabe-Ito-based colours of :mod:`sim.actors`, safe for colour-blind
readers), paler where the hold is weaker (the controller's influence share; for an
ensemble, the share of seeds that agree) and hatch contested cells rather than giving
them one more hue. Charts shade the documented JNIM-ISGS phases of ``seeds/phases.yaml``
and mark the run's key dated events (:mod:`sim.chronology`).

Uses matplotlib's Agg backend; nothing here is imported by the model.
"""

from __future__ import annotations

import datetime as dt
import shutil
from functools import lru_cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Patch, PathPatch  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from sim.actors import CAST, INDEX  # noqa: E402
from sim.chronology import OPEN_END, RELATION_COLOURS, key_events, phase_at, relation_phases  # noqa: E402
from sim.runview import PERPETRATORS, View, view_of_result  # noqa: E402

MAP_DATES = ("2017-06-01", "2019-07-01", "2020-12-01", "2022-06-01", "2023-06-01", "2025-06-01")
GIF = "control.gif"  # the MP4, when ffmpeg is there, is written next to it

SHARE_RANGE = (0.3, 0.9)  # influence share drawn palest .. full colour (controlled cells span about this)
PALEST = 0.3  # weight of the actor's colour against white at the palest
CONTESTED_FILL = "#EBEBEB"
HATCH, HATCH_COLOUR = "////", "#303030"
# labelled on the real geography; other geographies (the toy world) label their largest towns
MAP_TOWNS = ("Mopti", "Tombouctou", "Gao", "Menaka", "Djibo", "Dori", "Kaya", "Ouahigouya", "Ouagadougou",
             "Fada N'Gourma", "Bobo-Dioulasso", "Sikasso", "Niamey", "Tillaberi", "Tahoua", "Dosso", "Douentza",
             "Niono", "Dedougou")
MAIN_ACTORS = ("JNIM", "ISGS", "FAMa", "Burkina army", "Niger army", "VDP", "Dan Na Ambassagou", "GATIA", "CSP")


def _view(x) -> View:
    return x if isinstance(x, View) else view_of_result(x)


def _date(x) -> dt.date:
    return x if isinstance(x, dt.date) else dt.date.fromisoformat(str(x))


# ---------------------------------------------------------------------- maps


def intensity(share: np.ndarray) -> np.ndarray:
    """0-1 colour weight from an influence share (or the share of seeds that agree)."""
    lo, hi = SHARE_RANGE
    return np.clip((np.asarray(share, dtype=float) - lo) / (hi - lo), 0.0, 1.0)


def control_rgba(control: np.ndarray, contested: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """RGBA image: the controller's colour mixed with white by strength; contested cells light grey
    (hatched on top by :func:`hatch_cells`); cells nobody holds transparent."""
    palette = np.array([to_rgb(a.colour) for a in CAST])
    held = control >= 0
    weight = PALEST + (1.0 - PALEST) * intensity(strength)
    rgb = 1.0 - (1.0 - palette[np.where(held, control, 0)]) * weight[..., None]
    rgba = np.zeros(control.shape + (4,))
    rgba[held, :3] = rgb[held]
    rgba[held, 3] = 1.0
    free = contested & ~held
    rgba[free, :3] = to_rgb(CONTESTED_FILL)
    rgba[free, 3] = 1.0
    return rgba


def _resolution(lon: np.ndarray, lat: np.ndarray) -> float:
    return float(abs(lon[1] - lon[0])) if len(lon) > 1 else float(abs(lat[0] - lat[1])) if len(lat) > 1 else 0.1


def map_extent(lon: np.ndarray, lat: np.ndarray) -> tuple[float, float, float, float]:
    res = _resolution(lon, lat)
    return (float(lon[0] - res / 2), float(lon[-1] + res / 2), float(lat[-1] - res / 2), float(lat[0] + res / 2))


@lru_cache(maxsize=8)
def _border_lines(geo) -> tuple[list, list]:
    """(admin-1 rings, country outlines). Country borders are the outlines of the union of each
    country's regions, traced on a fine raster so that regions whose shared edges do not match
    vertex for vertex still give one clean line."""
    from contourpy import contour_generator
    from scipy import ndimage

    admin = [np.asarray(ring) for region in geo.regions for ring in region.polygons]
    lon0, lon1, lat0, lat1 = geo.bbox
    step = 0.02
    xs = np.arange(lon0 - 0.5, lon1 + 0.5, step)
    ys = np.arange(lat0 - 0.5, lat1 + 0.5, step)
    X, Y = np.meshgrid(xs, ys)
    points = np.column_stack([X.ravel(), Y.ravel()])
    countries = sorted({r.country for r in geo.regions})
    index = np.full(X.size, -1)
    for region in geo.regions:
        for ring in region.polygons:
            xy = np.asarray(ring)
            box = ((points[:, 0] >= xy[:, 0].min()) & (points[:, 0] <= xy[:, 0].max())
                   & (points[:, 1] >= xy[:, 1].min()) & (points[:, 1] <= xy[:, 1].max()))
            inside = MplPath(xy).contains_points(points[box])
            index[np.flatnonzero(box)[inside]] = countries.index(region.country)
    index = index.reshape(X.shape)
    known = index >= 0
    if known.any() and not known.all():  # slivers between ill-matched regions join their nearest country
        _, (ri, ci) = ndimage.distance_transform_edt(~known, return_indices=True)
        outside = ~ndimage.binary_fill_holes(known)
        index = np.where(outside, -1, index[ri, ci])
    lines = []
    for k in range(len(countries)):
        gen = contour_generator(xs, ys, (index == k).astype(float))
        lines.extend(np.asarray(line) for line in gen.lines(0.5))
    return admin, lines


def draw_borders(ax, geo) -> None:
    """Admin-1 borders thin, country borders thick."""
    admin, countries = _border_lines(geo)
    ax.add_collection(LineCollection(admin, colors="#8A8A8A", linewidths=0.4, zorder=3))
    ax.add_collection(LineCollection(countries, colors="#1A1A1A", linewidths=1.1, zorder=4))


def _map_towns(geo) -> list:
    named = [t for t in geo.towns if t.name in MAP_TOWNS and t.inside]
    if named:
        return named
    return sorted((t for t in geo.towns if t.inside), key=lambda t: -t.population)[:8]


def draw_towns(ax, geo, fontsize: float = 5.5) -> None:
    for t in _map_towns(geo):
        ax.plot(t.lon, t.lat, "o", ms=2.2, color="black", zorder=6)
        ax.annotate(t.name, (t.lon, t.lat), xytext=(2, 2), textcoords="offset points", fontsize=fontsize, zorder=6,
                    bbox={"boxstyle": "square,pad=0.05", "fc": "white", "ec": "none", "alpha": 0.55})


def hatch_cells(ax, mask: np.ndarray, lon: np.ndarray, lat: np.ndarray, colour: str = HATCH_COLOUR,
                hatch: str = HATCH):
    """Hatch the cells of ``mask`` (one compound path: far faster to draw than a patch per cell);
    returns the artist, or None when no cell is set."""
    rows, cols = np.nonzero(mask)
    if not len(rows):
        return None
    res = _resolution(lon, lat)
    x0, y0 = lon[cols] - res / 2, lat[rows] - res / 2
    corners = np.stack([np.column_stack([x0 + dx * res, y0 + dy * res]) for dx, dy in
                        ((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))], axis=1)
    codes = np.tile([MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY], len(rows))
    patch = PathPatch(MplPath(corners.reshape(-1, 2), codes), facecolor="none", edgecolor=colour, linewidth=0,
                      hatch=hatch, zorder=2)
    return ax.add_artist(patch)  # not add_patch: the map's limits are set, and updating them costs per frame


def setup_map(ax, lon, lat, geo, *, towns: bool = True, town_fontsize: float = 5.5) -> None:
    """Borders, towns, limits and aspect (degrees shortened in longitude by the cosine of latitude)."""
    x0, x1, y0, y1 = map_extent(lon, lat)
    if geo is not None:
        draw_borders(ax, geo)
        if towns:
            draw_towns(ax, geo, town_fontsize)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect(1.0 / np.cos(np.radians((y0 + y1) / 2)))
    ax.tick_params(labelsize=6)
    ax.set_facecolor("white")


def draw_control(ax, control, contested, strength, lon, lat):
    """The control raster on ``ax``; returns (image, hatching) so an animation can update them."""
    img = ax.imshow(control_rgba(control, contested, strength), extent=map_extent(lon, lat),
                    interpolation="nearest", zorder=1)
    return img, hatch_cells(ax, contested, lon, lat)


def legend_handles(actors) -> list:
    handles = [Patch(facecolor=CAST[i].colour, edgecolor="none", label=CAST[i].name) for i in actors]
    handles.append(Patch(facecolor=CONTESTED_FILL, edgecolor=HATCH_COLOUR, hatch=HATCH, linewidth=0,
                         label="contested"))
    return handles


def strength_key(fig, rect, actor: int, label: str) -> None:
    """A small ramp: one actor's colour from the palest to the full hold."""
    ax = fig.add_axes(rect)
    shares = np.linspace(SHARE_RANGE[0], SHARE_RANGE[1], 64)
    ramp = control_rgba(np.full((1, 64), actor, dtype=np.int8), np.zeros((1, 64), bool), shares[None, :])
    ax.imshow(ramp, extent=(shares[0], shares[-1], 0, 1), aspect="auto")
    ax.set_yticks([])
    ax.set_xticks([SHARE_RANGE[0], (SHARE_RANGE[0] + SHARE_RANGE[1]) / 2, SHARE_RANGE[1]])
    ax.tick_params(labelsize=6, length=2)
    ax.set_title(label, fontsize=6.5)


def _strength_label(view: View) -> str:
    return "share of seeds agreeing" if view.is_ensemble else "controller's influence share"


def pick_dates(view: View, wanted=MAP_DATES) -> list[dt.date]:
    """The raster dates nearest ``wanted`` inside the run (evenly spaced dates if fewer than two fall inside)."""
    dates = view.raster_dates()
    inside = [_date(w) for w in wanted if dates[0] <= _date(w) <= dates[-1]]
    if len(inside) < 2:
        k = np.linspace(0, len(dates) - 1, min(6, len(dates))).round().astype(int)
        return [dates[i] for i in sorted(set(k))]
    return inside


def _panel_title(ax, date: dt.date, size: float = 9) -> None:
    phase = phase_at(date)
    ax.set_title(date.isoformat() + (f"\n{phase.name}" if phase else ""), fontsize=size)


MAP_DPI = 130


def control_maps_figure(source, dates=MAP_DATES):
    """The small multiples of :func:`control_maps`: (figure, {date shown: its axes})."""
    view = _view(source)
    picks = pick_dates(view, dates)
    cols = min(3, len(picks))
    rows = int(np.ceil(len(picks) / cols))
    height = 3.45 * rows + 1.35
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, height), squeeze=False, dpi=MAP_DPI)
    fig.subplots_adjust(left=0.035, right=0.99, top=1 - 0.8 / height, bottom=0.85 / height, wspace=0.12,
                        hspace=0.35)
    for ax in axes.ravel()[len(picks):]:
        ax.axis("off")
    lon, lat = view.runs[0].lon, view.runs[0].lat
    shown, panels = set(), {}
    for ax, date in zip(axes.ravel(), picks):
        d, control, contested, strength = view.control_at(date)
        draw_control(ax, control, contested, strength, lon, lat)
        setup_map(ax, lon, lat, view.geo, town_fontsize=4.8)
        _panel_title(ax, d)
        panels[d] = ax
        shown |= {int(x) for x in np.unique(control) if x >= 0}
    shown = sorted(shown) or [INDEX["JNIM"]]
    fig.legend(handles=legend_handles(shown), loc="lower left", bbox_to_anchor=(0.02, 0.0), ncol=min(len(shown) + 1, 6),
               fontsize=7, frameon=False)
    strength_key(fig, (0.80, 0.2 / height, 0.15, 0.12 / height), shown[0],
                 _strength_label(view) + " (paler = weaker)")
    fig.suptitle(f"Territorial control, {view.label}", fontsize=11, y=1 - 0.08 / height, va="top")
    return fig, panels


def control_maps(source, path, dates=MAP_DATES) -> Path:
    """Small multiples of control at ``dates`` (nearest recorded raster), with the phase of each date."""
    fig, _ = control_maps_figure(source, dates)
    return _save(fig, path, dpi=MAP_DPI)


def animate_control(source, path, dates=None, *, fps: float = 4, dpi: int = 90, mp4: bool | None = None) -> list[Path]:
    """Control over time: one frame per date (default: every recorded raster) with the date and the
    documented phase; a GIF always, an MP4 next to it (``.mp4``) when ffmpeg is on PATH (``mp4=None``).

    Each frame is drawn once, and only what changes is drawn: the axes, legend and key are rendered
    once as a background, the borders and towns once as a transparent overlay composited on top;
    per frame only the control layer, its hatching and the date are drawn. matplotlib's animation
    writers redraw the whole figure per frame and per output file, several times slower."""
    from PIL import Image

    view = _view(source)
    frames = view.raster_dates() if dates is None else [_date(d) for d in dates]
    lon, lat = view.runs[0].lon, view.runs[0].lat
    size, box = (7.2, 6.4), (0.07, 0.2, 0.9, 0.68)
    shown = sorted({int(x) for r in view.runs for _, c, _, _ in r.rasters for x in np.unique(c) if x >= 0})
    shown = shown or [INDEX["JNIM"]]

    over = plt.figure(figsize=size, dpi=dpi)  # borders and towns alone, on a transparent canvas
    over.patch.set_alpha(0)
    oax = over.add_axes(box)
    setup_map(oax, lon, lat, view.geo)
    oax.patch.set_alpha(0)
    oax.axis("off")
    over.canvas.draw()
    overlay = np.asarray(over.canvas.buffer_rgba()).astype(np.float32) / 255.0
    plt.close(over)
    alpha = overlay[..., 3:4]

    fig = plt.figure(figsize=size, dpi=dpi)
    ax = fig.add_axes(box)
    _, control, contested, strength = view.control_at(frames[0])
    img, hatching = draw_control(ax, control, contested, strength, lon, lat)
    setup_map(ax, lon, lat, None)  # same limits and aspect as the overlay; borders and towns come from it
    date_text = fig.text(0.07, 0.955, "", fontsize=15, weight="bold", va="center")
    phase_text = fig.text(0.07, 0.915, "", fontsize=9, va="center", color="#333333")
    fig.text(0.97, 0.955, view.label, fontsize=8, ha="right", va="center")
    fig.legend(handles=legend_handles(shown), loc="lower left", bbox_to_anchor=(0.05, 0.01), ncol=4, fontsize=7,
               frameon=False)
    strength_key(fig, (0.72, 0.06, 0.22, 0.02), shown[0], _strength_label(view) + " (paler = weaker)")
    for artist in (img, hatching, date_text, phase_text):
        if artist is not None:
            artist.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)

    def render(date) -> np.ndarray:
        nonlocal hatching
        d, control, contested, strength = view.control_at(date)
        img.set_data(control_rgba(control, contested, strength))
        if hatching is not None:
            hatching.remove()
        hatching = hatch_cells(ax, contested, lon, lat)
        phase = phase_at(d)
        date_text.set_text(d.isoformat())
        phase_text.set_text(f"documented phase: {phase.name}" if phase else "before the documented phases")
        fig.canvas.restore_region(background)
        for artist in [img] + ([hatching] if hatching is not None else []) + list(ax.spines.values()):
            ax.draw_artist(artist)
        fig.draw_artist(date_text)
        fig.draw_artist(phase_text)
        base = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.float32) / 255.0
        rgb = overlay[..., :3] * alpha + base * (1.0 - alpha)
        return (rgb * 255.0 + 0.5).astype(np.uint8)

    path = Path(path)
    if mp4 is None:
        mp4 = shutil.which("ffmpeg") is not None
    video = _FFmpeg(path.with_suffix(".mp4"), fig.canvas.get_width_height(), fps) if mp4 else None
    images = []
    try:
        for date in frames:
            rgb = render(date)
            images.append(Image.fromarray(rgb).quantize(colors=255, method=Image.Quantize.FASTOCTREE, dither=0))
            if video is not None:
                video.write(rgb)
    finally:
        plt.close(fig)
        if video is not None:
            video.close()
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    return [path] + ([video.path] if video is not None else [])


class _FFmpeg:
    """Frames piped to ffmpeg as raw RGB, encoded as H.264 MP4 (even frame size, yuv420p for players)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float):
        import subprocess

        self.path = Path(path)
        w, h = size
        self.proc = subprocess.Popen(
            ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
             "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white", "-c:v", "libx264",
             "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(self.path)],
            stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, rgb: np.ndarray) -> None:
        self.proc.stdin.write(np.ascontiguousarray(rgb).tobytes())

    def close(self) -> None:
        _, err = self.proc.communicate()
        if self.proc.returncode != 0:
            self.path.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg failed ({self.proc.returncode}): {err.decode(errors='replace')[-500:]}")


# ---------------------------------------------------------------------- chronology on charts

CHART_TITLE_IN, EVENT_LABELS_IN, CHART_BOTTOM_IN = 0.5, 1.1, 0.45  # inches above and below the panels
CHART_LEFT, CHART_RIGHT = 0.075, 0.83  # legends sit right of the panels
SHORT_PHASE = {"cooperation": "cooperation", "all-out-war": "all-out war", "war-southward-expansion":
               "war, southward expansion", "renewed-war": "renewed war, lower intensity"}


def shade_phases(ax, strong: bool = False) -> None:
    """Tint the documented JNIM-ISGS phases (behind the data; callers set the date limits afterwards)."""
    for p in relation_phases():
        end = p.end if p.end != OPEN_END else dt.date(2030, 1, 1)
        ax.axvspan(p.start, end, color=p.colour, alpha=p.alpha * (2.5 if strong else 1.0), zorder=0, lw=0)


def event_lines(ax, events) -> None:
    for e in events:
        ax.axvline(e.date, color="#555555", lw=0.5, ls=":", zorder=1)


def _spread(xs: np.ndarray, gap: float) -> np.ndarray:
    """Positions (0-1, sorted) moved apart to at least ``gap``, staying inside 0-1 where possible."""
    out = np.array(xs, dtype=float)
    for k in range(1, len(out)):
        out[k] = max(out[k], out[k - 1] + gap)
    if len(out) and out[-1] > 1.0:
        out[-1] = 1.0
        for k in range(len(out) - 2, -1, -1):
            out[k] = min(out[k], out[k + 1] - gap)
    return out


def phase_strip(ax, view: View, start: dt.date, end: dt.date, fontsize: float = 5.5) -> None:
    """A thin axis naming the documented JNIM-ISGS phases, with the run's key events labelled above it
    (labels spread apart and tied to their dates by a thin line)."""
    shade_phases(ax, strong=True)
    ax.set_xlim(start, end)
    fig = ax.figure
    width_pt = ax.get_position().width * fig.get_figwidth() * 72
    days = max((end - start).days, 1)
    for p in relation_phases():
        a, b = max(p.start, start), min(p.end, end)
        label = SHORT_PHASE.get(p.id, p.id.replace("-", " "))
        if b > a and (b - a).days / days * width_pt > len(label) * 6.5 * 0.55 + 6:
            ax.text(a + (b - a) / 2, 0.5, label, ha="center", va="center", fontsize=6.5)
    events = key_events(view.scenario)
    x0, x1 = mdates.date2num(start), mdates.date2num(end)
    true = [(mdates.date2num(e.date) - x0) / (x1 - x0) for e in events]
    placed = _spread(true, (fontsize + 1.5) / width_pt)
    for e, t, x in zip(events, true, placed):
        ax.axvline(e.date, color="#333333", lw=0.6)
        ax.annotate(e.label, (t, 1.0), xycoords="axes fraction", xytext=(x, 1.9), textcoords="axes fraction",
                    rotation=90, fontsize=fontsize, ha="center", va="bottom",
                    arrowprops={"arrowstyle": "-", "lw": 0.4, "color": "#555555", "shrinkA": 0, "shrinkB": 1})
    ax.set_yticks([])
    ax.set_ylabel("documented\nphases", fontsize=7, rotation=0, ha="right", va="center")


def _date_axis(ax, start: dt.date, end: dt.date) -> None:
    ax.set_xlim(start, end)
    locator = mdates.YearLocator() if (end - start).days > 3 * 365 else mdates.MonthLocator(bymonth=(1, 4, 7, 10))
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.tick_params(labelsize=7)


def _period(view: View) -> tuple[dt.date, dt.date]:
    return view.scenario.start, view.scenario.end


def _chart(view: View, heights, title: str, width: float = 11.0):
    """A figure with the phase strip on top and one panel per height (inches), sharing the date axis."""
    strip_in = 0.32
    top_in = CHART_TITLE_IN + (EVENT_LABELS_IN if key_events(view.scenario) else 0.0)
    total = top_in + CHART_BOTTOM_IN + strip_in + sum(heights) + 0.22 * len(heights)
    fig, axes = plt.subplots(len(heights) + 1, 1, figsize=(width, total), sharex=True,
                             gridspec_kw={"height_ratios": [strip_in, *heights], "hspace": 0.22 * (len(heights) + 1)
                                          / (strip_in + sum(heights))})
    fig.subplots_adjust(left=CHART_LEFT, right=CHART_RIGHT, top=1 - top_in / total, bottom=CHART_BOTTOM_IN / total)
    fig.suptitle(title, fontsize=10, y=1 - 0.12 / total, va="top")
    start, end = _period(view)
    phase_strip(axes[0], view, start, end)
    for ax in axes[1:]:
        ax.tick_params(labelsize=7)
    return fig, list(axes[1:])


def _legend_right(ax, reverse: bool = False, **kw) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if reverse:
        handles, labels = handles[::-1], labels[::-1]
    ax.legend(handles, labels, fontsize=7, loc="center left", bbox_to_anchor=(1.005, 0.5), frameon=False, **kw)


def _band(ax, band, colour, label, lw: float = 1.4, scale: float = 1.0, style: str = "-"):
    x = band.dates
    if band.p05 is not None:
        ax.fill_between(x, band.p05 * scale, band.p95 * scale, color=colour, alpha=0.2, lw=0)
    ax.plot(x, band.median * scale, style, color=colour, lw=lw, label=label)


def monthly_bars(ax, dates, heights, *, bottom=None, colour: str, label: str | None = None, width: float = 24.0):
    """Bars centred on ``dates`` (days wide), drawn as one collection: a figure of 100+ months of stacked
    bars draws several times faster than with one patch per bar (``ax.bar``)."""
    x = mdates.date2num(np.asarray(dates, dtype="datetime64[D]"))
    lo = np.zeros(len(x)) if bottom is None else np.asarray(bottom, dtype=float)
    hi = lo + np.asarray(heights, dtype=float)
    keep = hi > lo
    x0, x1 = x[keep] - width / 2, x[keep] + width / 2
    boxes = np.stack([np.column_stack(v) for v in ((x0, lo[keep]), (x1, lo[keep]), (x1, hi[keep]), (x0, hi[keep]))],
                     axis=1)
    ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="none", label=label), autolim=True)
    ax.update_datalim(np.column_stack([x, np.maximum(hi, 0)]))
    ax.autoscale_view()


def _save(fig, path, dpi: int = 110) -> Path:
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------- charts


def _held(view: View, column: str) -> list[str]:
    """Actors that ever hold something, in cast order."""
    bands = view.series([f"{a.name}.{column}" for a in CAST])
    return [a.name for a in CAST if np.nanmax(bands[f"{a.name}.{column}"].median) > 0]


def territory(source, path) -> Path:
    """Area and population held per actor over time: stacked for a run, medians and 5-95% bands for
    an ensemble; the documented phases on top with the key events."""
    view = _view(source)
    start, end = _period(view)
    what = "median and 5-95% band across seeds" if view.is_ensemble else "stacked; dashed: phase changes"
    fig, axes = _chart(view, [2.9, 2.9], f"Territory and population held, {view.label} ({what})")
    for ax, column, scale, unit in ((axes[0], "area_km2", 1e-3, "area held (1000 km²)"),
                                    (axes[1], "population_ruled", 1e-6, "population held (millions)")):
        actors = _held(view, column) or ["JNIM"]
        bands = view.series([f"{a}.{column}" for a in actors])
        if view.is_ensemble:
            shade_phases(ax)
            for a in actors:
                _band(ax, bands[f"{a}.{column}"], CAST[INDEX[a]].colour, a, scale=scale)
        else:
            ax.stackplot(bands[f"{actors[0]}.{column}"].dates,
                         [bands[f"{a}.{column}"].median * scale for a in actors],
                         colors=[CAST[INDEX[a]].colour for a in actors], labels=actors, alpha=0.9, lw=0)
            for p in relation_phases():
                if start < p.start < end:
                    ax.axvline(p.start, color="black", lw=0.6, ls="--")
        ax.set_ylabel(unit, fontsize=8)
        ax.set_ylim(bottom=0)
        _legend_right(ax, reverse=not view.is_ensemble)
    _date_axis(axes[-1], start, end)
    return _save(fig, path)


def _relation_shares(view: View, a: str = "JNIM", b: str = "ISGS"):
    """Dates and, per relation state, the share of runs in it (one run: 0 or 1)."""
    per_run = []
    for r in view.runs:
        per_run.append([row["state"] for row in r.relation_history if {row["actor_a"], row["actor_b"]} == {a, b}])
    dates = [row["date"] for row in view.runs[0].relation_history if {row["actor_a"], row["actor_b"]} == {a, b}]
    shares = {s: np.mean([[st == s for st in states] for states in per_run], axis=0) for s in RELATION_COLOURS}
    return np.array(dates, dtype="datetime64[D]"), shares


def relation_panel(ax, view: View) -> None:
    """The run's JNIM-ISGS relation state over time (an ensemble: the share of seeds in each state)."""
    dates, shares = _relation_shares(view)
    ax.stackplot(dates, [shares[s] for s in RELATION_COLOURS], colors=list(RELATION_COLOURS.values()),
                 labels=list(RELATION_COLOURS), lw=0)
    ax.set_ylim(0, 1)
    ax.set_yticks([0, 1] if view.is_ensemble else [])
    ax.set_ylabel("JNIM-ISGS\n" + ("share of seeds" if view.is_ensemble else "(model)"), fontsize=8)
    _legend_right(ax)


def violence(source, path) -> Path:
    """JNIM-ISGS clashes and their fatalities per month, civilian fatalities per month by perpetrator,
    and the JNIM-ISGS relation of the run(s) under the documented phases."""
    view = _view(source)
    if not view.has_events:
        raise ValueError(f"{view.label}: no events recorded (a sweep keeps only series)")
    start, end = _period(view)
    band_note = " (median and 5-95% band across seeds)" if view.is_ensemble else ""
    fig, axes = _chart(view, [1.9, 1.9, 2.5, 0.9], f"Violence per month, {view.label}{band_note}")
    pair = view.series(["clashes.JNIM-ISGS", "clash_fatalities.JNIM-ISGS"])
    civ = view.series([f"civilian_fatalities.{g}" for g in PERPETRATORS])
    for ax in axes[:3]:
        shade_phases(ax)
        event_lines(ax, key_events(view.scenario))
    for ax, name, label, colour in ((axes[0], "clashes.JNIM-ISGS", "JNIM-ISGS\nclashes", CAST[INDEX["ISGS"]].colour),
                                    (axes[1], "clash_fatalities.JNIM-ISGS", "killed in\nthese clashes", "#444444")):
        band = pair[name]
        if view.is_ensemble:
            _band(ax, band, colour, "median")
        else:
            monthly_bars(ax, band.dates, band.median, colour=colour)
        ax.set_ylabel(label, fontsize=8)
        ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    ax = axes[2]
    if view.is_ensemble:
        for g, (_, c) in PERPETRATORS.items():
            _band(ax, civ[f"civilian_fatalities.{g}"], c, g)
    else:
        bottom = np.zeros(len(civ["civilian_fatalities.JNIM"].dates))
        for g, (_, c) in PERPETRATORS.items():
            band = civ[f"civilian_fatalities.{g}"]
            monthly_bars(ax, band.dates, band.median, bottom=bottom, colour=c, label=g)
            bottom += band.median
    ax.set_ylabel("civilians killed,\nby perpetrator", fontsize=8)
    ax.set_ylim(0, max(1.0, ax.get_ylim()[1]))
    _legend_right(ax, reverse=not view.is_ensemble, title="perpetrator", title_fontsize=7)
    relation_panel(axes[3], view)
    _date_axis(axes[-1], start, end)
    return _save(fig, path)


def timeseries(source, path) -> Path:
    """Area and manpower of the main actors, JNIM-ISGS clashes per month and the relation, under the phases."""
    view = _view(source)
    start, end = _period(view)
    panels = [2.5, 2.5] + ([1.5, 0.9] if view.has_events else [])
    fig, axes = _chart(view, panels, f"Forces and territory, {view.label}"
                       + (" (median and 5-95% band across seeds)" if view.is_ensemble else ""))
    events = key_events(view.scenario)
    area = view.series([f"{a}.area_km2" for a in MAIN_ACTORS])
    men = view.series([f"{a}.manpower" for a in MAIN_ACTORS])
    for ax in axes[:3]:
        shade_phases(ax)
        event_lines(ax, events)
    for a in MAIN_ACTORS:
        colour = CAST[INDEX[a]].colour
        _band(axes[0], area[f"{a}.area_km2"], colour, a, scale=1e-3)
        _band(axes[1], men[f"{a}.manpower"], colour, a)
    axes[0].set_ylabel("area controlled\n(1000 km²)", fontsize=8)
    axes[1].set_ylabel("manpower", fontsize=8)
    _legend_right(axes[0])
    if view.has_events:
        clashes = view.series(["clashes.JNIM-ISGS"])["clashes.JNIM-ISGS"]
        if view.is_ensemble:
            _band(axes[2], clashes, CAST[INDEX["ISGS"]].colour, "median")
        else:
            monthly_bars(axes[2], clashes.dates, clashes.median, colour=CAST[INDEX["ISGS"]].colour)
        axes[2].set_ylabel("JNIM-ISGS\nclashes / month", fontsize=8)
        axes[2].set_ylim(0, max(1.0, axes[2].get_ylim()[1]))
        relation_panel(axes[3], view)
    _date_axis(axes[-1], start, end)
    return _save(fig, path)


def series_panels(views: list[View], names: list[str], path, title: str = "") -> Path:
    """One row per series, one column per view (side by side, shared y): the values of a run, or the
    median and 5-95% band of an ensemble, with the documented phases shaded and key events dotted."""
    rows, cols = len(names), len(views)
    height = 1.75 * rows + 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols + 1.0, height), squeeze=False, sharey="row",
                             sharex="col")
    fig.subplots_adjust(left=0.13 if cols == 1 else 0.09, right=0.98, top=1 - 0.6 / height, bottom=0.4 / height,
                        wspace=0.06, hspace=0.18)
    for j, view in enumerate(views):
        bands = view.series([n for n in names if view._can(n)])
        for i, name in enumerate(names):
            ax = axes[i][j]
            shade_phases(ax)
            event_lines(ax, key_events(view.scenario))
            label, scale, colour = _series_style(name)
            if name in bands:
                _band(ax, bands[name], colour, None, scale=scale)
            else:
                ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", fontsize=8, color="#777777")
            if j == 0:
                ax.set_ylabel(label, fontsize=7)
            ax.tick_params(labelsize=7)
        axes[0][j].set_title(view.label, fontsize=9)
        _date_axis(axes[-1][j], *_period(view))
    fig.suptitle(title or "Time series (ensembles: median and 5-95% band); documented phases shaded", fontsize=10,
                 y=1 - 0.1 / height, va="top")
    return _save(fig, path)


SERIES_UNITS = {"area_km2": (1e-3, "area held\n(1000 km²)"), "population_ruled": (1e-6, "population held\n(millions)"),
                "treasury": (1.0, "treasury\n(million USD)")}


def _series_style(name: str) -> tuple[str, float, str]:
    """(axis label, scale, colour) of a named series."""
    head, _, tail = name.partition(".")
    if head in ("clashes", "clash_fatalities"):
        return (f"{tail}\n{'clashes' if head == 'clashes' else 'killed in clashes'} / month", 1.0,
                CAST[INDEX["ISGS"]].colour)
    if head == "civilian_fatalities":
        return f"civilians killed\nby {tail} / month", 1.0, PERPETRATORS[tail][1]
    scale, unit = SERIES_UNITS.get(tail, (1.0, tail.replace("_", " ")))
    return f"{head}\n{unit}", scale, CAST[INDEX[head]].colour


# ---------------------------------------------------------------------- comparison


def compare_maps(view_a: View, view_b: View, path, dates) -> Path:
    """Per date: A's control, B's control, and where they differ (B's controller as fill, A's as hatching
    in A's colour; grey where both agree)."""
    lon, lat = view_a.runs[0].lon, view_a.runs[0].lat
    if view_b.runs[0].lat.shape != lat.shape or view_b.runs[0].lon.shape != lon.shape:
        raise ValueError("the two runs use different grids (resolution_deg); compare runs on the same grid")
    fig, axes = plt.subplots(len(dates), 3, figsize=(13.5, 3.6 * len(dates) + 1.0), squeeze=False)
    shown = set()
    for row, date in zip(axes, dates):
        da, ca, ka, sa = view_a.control_at(date)
        db, cb, kb, sb = view_b.control_at(date)
        for ax, (d, c, k, s), label in ((row[0], (da, ca, ka, sa), view_a.label), (row[1], (db, cb, kb, sb),
                                                                                     view_b.label)):
            draw_control(ax, c, k, s, lon, lat)
            setup_map(ax, lon, lat, view_a.geo, town_fontsize=4.5)
            ax.set_title(f"{label}\n{d.isoformat()}", fontsize=8)
            shown |= {int(x) for x in np.unique(c) if x >= 0}
        ax = row[2]
        differ = ca != cb
        same = (~differ) & (ca >= 0)
        rgba = control_rgba(np.where(differ, cb, -1).astype(np.int8), np.zeros_like(differ), np.ones(differ.shape))
        rgba[same] = (*to_rgb("#D9D9D9"), 1.0)
        ax.imshow(rgba, extent=map_extent(lon, lat), interpolation="nearest", zorder=1)
        for actor in sorted({int(x) for x in np.unique(ca[differ]) if x >= 0}):
            hatch_cells(ax, differ & (ca == actor), lon, lat, colour=CAST[actor].colour, hatch="xxx")
        setup_map(ax, lon, lat, view_a.geo, town_fontsize=4.5)
        share = differ.mean() * 100
        ax.set_title(f"differences ({share:.1f}% of cells)\nfill: B's controller, hatching: A's", fontsize=8)
    shown = sorted(shown) or [INDEX["JNIM"]]
    handles = legend_handles(shown) + [Patch(facecolor="#D9D9D9", label="same controller in A and B"),
                                       Patch(facecolor="white", edgecolor="#555555", hatch="xxx", linewidth=0,
                                             label="A's controller (hatching, in A's colour)")]
    fig.legend(handles=handles, loc="lower center", ncol=6, fontsize=7, frameon=False)
    fig.suptitle(f"Control: A = {view_a.label}, B = {view_b.label}", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


COMPARE_SERIES = ("JNIM.area_km2", "ISGS.area_km2", "JNIM.population_ruled", "JNIM.manpower", "ISGS.manpower")
COMPARE_EVENTS = ("clashes.JNIM-ISGS", "civilian_fatalities.JNIM", "civilian_fatalities.ISGS",
                  "civilian_fatalities.state forces")


def compare_series(view_a: View, view_b: View, path) -> Path:
    """A and B side by side: the main series (those either recorded, for sweeps) and, when both have
    events, JNIM-ISGS clashes and civilian fatalities per month."""
    names = [n for n in COMPARE_SERIES if view_a._can(n) or view_b._can(n)]
    if not names:
        names = sorted(set(view_a.available_series()) | set(view_b.available_series()))[:6]
    history = names
    events = list(COMPARE_EVENTS) if view_a.has_events and view_b.has_events else []
    return series_panels([view_a, view_b], history + events, path,
                         title="A and B side by side (ensembles: median and 5-95% band); documented phases shaded")


# ---------------------------------------------------------------------- a run's figures


def write_figures(source, folder, *, dates=MAP_DATES, animate: bool = False, fps: float = 4,
                  mp4: bool | None = None) -> list[Path]:
    """The figures of a run or an ensemble into ``folder`` (maps at ``dates``); returns the files written.
    A sweep folder gets one chart of the series its spec recorded."""
    view = _view(source)
    folder = Path(folder)
    if not view.runs:
        return [series_panels([view], view.available_series(), folder / "series.png")]
    written = [control_maps(view, folder / "control_map.png", dates)] if view.has_maps else []
    written.append(timeseries(view, folder / "timeseries.png"))
    written.append(territory(view, folder / "territory.png"))
    written.append(violence(view, folder / "violence.png"))
    if animate and view.has_maps:
        written.extend(animate_control(view, folder / GIF, fps=fps, mp4=mp4))
    return written
