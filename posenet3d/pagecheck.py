"""Open the 3D pages (:mod:`posenet3d.viewer`) in headless Chromium and read what plotly drew (tests, benchmark).

Needs ``selenium`` (the ``test`` extra) and a Chromium with its driver (Debian: ``apt-get install -y chromium
chromium-driver``); :func:`chromium_missing` says what is absent.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

#: What plotly drew: the frames it holds and the person traces with at least one joint (None while drawing).
STATE_JS = """var g = document.getElementById('graph');
if (!g || !g._fullLayout || !g.data) return null;
var frames = g._transitionData ? g._transitionData._frames.length : 0;
return {frames: frames, people: g.data.filter(function (t) {
  return t.meta && t.meta.kind === 'person' && t.visible !== false
    && (t.x || []).some(function (v) { return v !== null; });
}).length};"""

#: Move the slider to its step ``arguments[0]`` (negative: from the end) as a click does; returns its value
#: (the frame).
SLIDER_JS = """var done = arguments[arguments.length - 1];
var g = document.getElementById('graph'); var steps = g.layout.sliders[0].steps;
var step = steps[arguments[0] < 0 ? steps.length + arguments[0] : arguments[0]];
Plotly.animate(g, step.args[0], step.args[1]).then(function () { done(step.value); });"""


def chromium_paths() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    return browser, shutil.which("chromedriver")


def chromium_missing() -> str | None:
    """Why headless Chromium cannot be driven here, or None."""
    import importlib.util
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    browser, driver = chromium_paths()
    if not browser or not driver:
        return "Chromium or chromedriver is not installed (Debian: apt-get install -y chromium chromium-driver)"
    return None


def start_chromium(width: int = 1280, height: int = 800):
    """A headless Chromium (selenium WebDriver) that keeps the browser console's log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, driver_path = chromium_paths()
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--enable-unsafe-swiftshader"):
        options.add_argument(arg)
    options.binary_location = browser
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_script_timeout(120)
    return driver


def open_page(driver, page: Path, frames: int = 0, timeout_s: float = 120.0) -> tuple[dict, float]:
    """Load ``page`` from ``file://`` and wait until plotly has drawn it and holds ``frames`` frames; (the state
    of :data:`STATE_JS`, seconds from the request until then). The console log of earlier pages is dropped."""
    driver.get_log("browser")
    t0 = time.perf_counter()
    driver.get(Path(page).resolve().as_uri())
    while time.perf_counter() - t0 < timeout_s:
        state = driver.execute_script(STATE_JS)
        if state is not None and state["frames"] >= frames:
            return state, time.perf_counter() - t0
        time.sleep(0.02)
    raise TimeoutError(f"{page}: plotly did not draw within {timeout_s:g} s")


def console_errors(driver) -> list[str]:
    """The browser console's SEVERE entries since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
