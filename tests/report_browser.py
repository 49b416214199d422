"""Open HTML reports in a real headless Chromium (Debian's ``chromium`` + ``chromium-driver``) with Selenium.

Used by ``tests/test_report.py``. Nothing is ever downloaded: the browser and its driver are the
system's (``/usr/bin/chromium``, ``/usr/bin/chromedriver``), Selenium Manager is disabled, and
the browser runs offline with a fresh profile.

What :func:`inspect_report` collects, for the tests to assert on:

* ``errors``: every SEVERE entry of the browser log (``goog:loggingPrefs``), which holds uncaught
  JavaScript exceptions, unhandled promise rejections and ``console.error`` calls;
* ``ready``: ``document.body.dataset.reportReady`` once every ``Plotly.newPlot`` has settled;
* ``plots``: for each ``.js-plotly-plot`` div, its traces (type and number of points, from
  ``gd._fullData``, where plotly.js has decoded the base64 arrays) and counts of what was
  actually drawn: SVG markers, lines, bars, boxes, contour paths, heatmap images, and for
  WebGL parallel coordinates the axes and the painted pixels of the lines' canvas.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: When set (CI sets it), a missing browser fails the browser tests instead of skipping them.
REQUIRE_ENV = "CRYSTALLIZE_REQUIRE_BROWSER"

FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Parallel coordinates draw with WebGL; without a GPU Chromium needs this to use its software renderer.
    "--enable-unsafe-swiftshader",
    "--window-size=1400,1000",
)

PROBE_JS = r"""
function painted(canvas) {
  if (!canvas || !canvas.width || !canvas.height) return 0;
  var copy = document.createElement('canvas');
  copy.width = canvas.width; copy.height = canvas.height;
  var ctx = copy.getContext('2d');
  ctx.drawImage(canvas, 0, 0);
  var px = ctx.getImageData(0, 0, copy.width, copy.height).data, n = 0;
  for (var i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
  return n;
}
function size(a) { return a && typeof a.length === 'number' ? a.length : 0; }
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (gd) {
  var traces = (gd._fullData || []).map(function (t) {
    var n = 0;
    if (t.type === 'parcoords') n = t.dimensions && t.dimensions.length ? size(t.dimensions[0].values) : 0;
    else if (t.type === 'contour' || t.type === 'heatmap') n = size(t.z) * (t.z && t.z.length ? size(t.z[0]) : 0);
    else n = Math.max(size(t.x), size(t.y));
    return {type: t.type, visible: t.visible, points: n, dimensions: t.dimensions ? t.dimensions.length : 0};
  });
  var q = function (sel) { return gd.querySelectorAll(sel).length; };
  return {
    id: gd.id, data: (gd.data || []).length, traces: traces,
    marks: {
      scatter: q('.scatterlayer .trace .point') + q('.scatterlayer .trace path.js-line'),
      bar: q('.barlayer .point path'),
      box: q('.boxlayer .trace path.box'),
      contour: q('.contourlayer path'),
      heatmap: q('.heatmaplayer image, .hm image'),
      parcoords_axes: q('.parcoords .y-axis'),
      parcoords_pixels: painted(gd.querySelector('canvas.gl-canvas-focus'))
    }
  };
});
"""


def missing_reason() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not path.exists():
            return f"{path} is missing (apt-get install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


@dataclass
class PageCheck:
    """What the browser saw on one page."""

    ready: str | None
    errors: list[str] = field(default_factory=list)
    plots: list[dict[str, Any]] = field(default_factory=list)


class Browser:
    """One headless Chromium session with a fresh profile, closed by :meth:`close`."""

    def __init__(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common import selenium_manager

        os.environ["SE_OFFLINE"] = "true"  # Selenium Manager, if it ever ran, must not download

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("Selenium Manager must not run: the system's chromium-driver is used")

        self._profile = tempfile.mkdtemp(prefix="crystallize-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={self._profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        original = selenium_manager.SeleniumManager.binary_paths
        selenium_manager.SeleniumManager.binary_paths = refuse  # type: ignore[method-assign]
        try:
            self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        finally:
            selenium_manager.SeleniumManager.binary_paths = original  # type: ignore[method-assign]
        self.driver.set_page_load_timeout(120)

    def inspect_report(self, path: Path, timeout: float = 120.0) -> PageCheck:
        """Load ``path``, wait until every figure has rendered (or failed), and collect what it drew."""
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        driver = self.driver
        driver.get_log("browser")  # drop what earlier pages logged
        driver.get(Path(path).resolve().as_uri())
        with contextlib.suppress(TimeoutException):  # a page that never gets ready is reported by `ready`
            WebDriverWait(driver, timeout).until(
                lambda d: d.execute_script("return document.body.dataset.reportReady")
            )
        ready = driver.execute_script("return document.body.dataset.reportReady || null")
        plots = driver.execute_script(PROBE_JS)
        errors = [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
        return PageCheck(ready=ready, errors=errors, plots=plots)

    def screenshot(self, path: Path, out: Path, width: int = 1400, height: int = 4000) -> None:
        """Save a PNG of the report at the given window size (for looking at it)."""
        self.driver.set_window_size(width, height)
        self.inspect_report(path)
        self.driver.save_screenshot(str(out))

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)


def drawn_problems(plot: dict[str, Any]) -> list[str]:
    """What is wrong with one plot as probed: no data, or a trace type with points but nothing drawn."""
    problems = []
    name = plot["id"]
    traces = [t for t in plot["traces"] if t["visible"] is not False]
    if plot["data"] < 1 or not any(t["points"] > 0 for t in traces):
        problems.append(f"{name}: no trace with points")
    marks = plot["marks"]
    types = {t["type"] for t in traces if t["points"] > 0}
    need = {"scatter": "scatter", "bar": "bar", "box": "box", "contour": "contour", "heatmap": "heatmap"}
    for trace_type, mark in need.items():
        if trace_type in types and marks[mark] < 1:
            problems.append(f"{name}: {trace_type} trace(s) with points but no {mark} marks drawn")
    if "parcoords" in types:
        dims = max(t["dimensions"] for t in traces if t["type"] == "parcoords")
        if marks["parcoords_axes"] < dims:
            problems.append(
                f"{name}: {marks['parcoords_axes']} parallel-coordinate axes drawn for {dims} dimensions"
            )
        if marks["parcoords_pixels"] < 100:
            problems.append(
                f"{name}: the parallel-coordinate lines were not painted ({marks['parcoords_pixels']} pixels)"
            )
    return problems


def need(browser: Browser | str) -> Browser:
    """The session, or skip (fail when the browser is broken or ``REQUIRE_ENV`` is set)."""
    if isinstance(browser, Browser):
        return browser
    if browser.startswith("BROKEN") or os.environ.get(REQUIRE_ENV):
        pytest.fail(f"browser tests cannot run: {browser} ({REQUIRE_ENV}={os.environ.get(REQUIRE_ENV)!r})")
    pytest.skip(
        f"browser tests need a headless Chromium: {browser}; set {REQUIRE_ENV}=1 to make this a failure"
    )
