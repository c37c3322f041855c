"""The interactive view: kept out of the core import path, and tested end to end in a real headless browser
(Debian's Chromium driven by Playwright): the page loads, the map renders, stepping changes it.

The browser test skips, saying why, when Chromium, Playwright or solara is missing; ``.ci/run`` installs
Chromium from Debian's packages where it can.
"""

import base64
import importlib.util
import io
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

CHROMIUM = os.environ.get("LIPTAKO_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def short_scenario(tmp_path):
    """The baseline on a 0.5-degree grid for six months, without its later dated events."""
    path = tmp_path / "app_short.yaml"
    path.write_text(f"base: {ROOT / 'scenarios' / 'baseline.yaml'}\nname: app_short\nresolution_deg: 0.5\n"
                    "end: 2017-09-01\nevents: []\n", encoding="utf-8")
    return path


def test_core_imports_do_not_load_the_viz_stack():
    code = ("import sys, sim.model, sim.runner, sim.cli, sim.plots, sim.report\n"
            "sim.cli.build_parser()\n"
            "bad = sorted(m for m in sys.modules if m.startswith(('mesa.visualization', 'solara')))\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"core imports load {out.stdout.strip()}"


def test_app_command_rejects_bad_input_before_serving(tmp_path, capsys):
    from sim.cli import main

    assert main(["app", str(tmp_path / "missing.yaml")]) == 2
    assert main(["app", str(short_scenario(tmp_path)), "--port", "70000"]) == 2
    assert "--port 70000" in capsys.readouterr().err


needs_solara = pytest.mark.skipif(importlib.util.find_spec("solara") is None,
                                  reason="solara is not installed (pip install -e '.[app]')")


@needs_solara
def test_the_apps_model_is_the_run_and_every_layer_renders(tmp_path, monkeypatch, real_geo):
    path = short_scenario(tmp_path)
    monkeypatch.setenv("LIPTAKO_APP_SCENARIO", str(path))
    monkeypatch.setenv("LIPTAKO_APP_SEED", "77")
    from sim import app
    from sim.runner import run
    from sim.scenario_io import load_scenario

    model = app.build_page().args[0]  # the model the page steps
    scenario = load_scenario(path)
    for _ in range(scenario.n_steps):
        model.step()
    assert model.history == run(scenario, real_geo, seed=77).history  # played to the end: `liptako run --seed 77`
    images = []
    for layer in app.LAYERS:
        buf = io.BytesIO()
        app.map_figure(model, layer, "ISGS").savefig(buf, format="png")
        images.append(np.asarray(Image.open(buf).convert("RGB")).astype(int))
    assert all(np.abs(a - b).sum() > 0 for k, a in enumerate(images) for b in images[k + 1:])
    charts = app.charts_figure(model)
    assert len(charts.axes) == 3 and charts.axes[0].get_lines()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_server(proc, url: str, log, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"liptako app exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no answer from {url} within {timeout} s")


def _image_bytes(page, locator) -> bytes:
    """The bytes behind an <img> (a blob: URL), fetched inside the page."""
    data = page.evaluate("""async (img) => {
        const buf = await (await fetch(img.src)).arrayBuffer();
        let s = ''; const b = new Uint8Array(buf);
        for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
        return btoa(s);
    }""", locator.element_handle())
    return base64.b64decode(data)


@needs_solara
def test_app_in_a_headless_browser(tmp_path):
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set LIPTAKO_CHROMIUM)")
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[dev]')")
    from playwright.sync_api import sync_playwright

    port = _free_port()
    cmd = [sys.executable, "-m", "sim.cli", "app", str(short_scenario(tmp_path)), "--port", str(port)]
    log = tmp_path / "app.log"  # a file, not a pipe: a chatty server must never block on a full pipe
    with open(log, "w") as sink:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for_server(proc, f"http://127.0.0.1:{port}/", log)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/", timeout=90_000)
                page.get_by_text("Step: 0").wait_for(timeout=90_000)
                map_img = page.locator("img").first  # the map comes first, the charts second
                map_img.wait_for(timeout=60_000)
                page.wait_for_function("img => img.complete && img.naturalWidth > 300", arg=map_img.element_handle(),
                                       timeout=60_000)
                before_src, before = map_img.get_attribute("src"), _image_bytes(page, map_img)
                assert before.startswith(b"\x89PNG") and len(before) > 10_000
                assert page.locator("img").count() == 2  # map and live charts

                page.get_by_role("button", name="Step").click()
                page.get_by_text("Step: 1").wait_for(timeout=60_000)
                page.wait_for_function("([img, old]) => img.src !== old && img.complete && img.naturalWidth > 300",
                                       arg=[map_img.element_handle(), before_src], timeout=60_000)
                after = _image_bytes(page, map_img)
                assert after.startswith(b"\x89PNG") and after != before, "stepping did not change the map"

                stepped_src = map_img.get_attribute("src")
                page.get_by_role("button", name="population").click()
                page.wait_for_function("([img, old]) => img.src !== old && img.complete", timeout=60_000,
                                       arg=[map_img.element_handle(), stepped_src])
                assert _image_bytes(page, map_img) != after, "choosing a layer did not change the map"
            finally:
                browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and anything it started (its own session)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)
